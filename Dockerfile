# One image for every Viche process; the compose file picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN useradd --create-home --uid 10001 viche

COPY pyproject.toml README.md ./
COPY services ./services
COPY gateway ./gateway
# Catalogues are compiled before the install so that the .mo files ship in the package.
RUN pip install babel \
 && pybabel -q compile --use-fuzzy -d services/common/translations -D messages \
 && pip install .

USER viche
EXPOSE 8000
# Overridden per container in docker-compose.yml.
CMD ["viche", "--help"]
