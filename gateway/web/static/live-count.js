// Live signature count: asks the API again every 15 s. The request revalidates with the
// ETag the browser kept, so an unchanged count costs a bodyless 304; no reload needed.
(function () {
  var shown = document.getElementById("signature-count");
  if (!shown || !window.fetch) return;
  var url = "/api/petitions/petitions/" + shown.dataset.petition;
  var plural = new Intl.PluralRules(shown.dataset.lang);
  var number = new Intl.NumberFormat(shown.dataset.lang);
  function refresh() {
    fetch(url, { cache: "no-cache", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (petition) {
        if (!petition) return;
        var form = shown.dataset[plural.select(petition.signatures)] || shown.dataset.other;
        var text = form.replace("{n}", number.format(petition.signatures));
        if (shown.textContent !== text) shown.textContent = text;
      })
      .catch(function () {});
  }
  setInterval(refresh, 15000);
  // One's own signature is in the count a second or two after signing: show it then.
  if ("justSigned" in shown.dataset) setTimeout(refresh, 2500);
})();
