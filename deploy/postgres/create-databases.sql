-- One database per service: a service never reads another's tables.
CREATE DATABASE viche_auth;
CREATE DATABASE viche_polls;
CREATE DATABASE viche_petitions;
