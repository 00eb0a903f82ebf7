(function () {
  // Framed by a council's page: tell it how tall this page is, so that the frame the
  // loader made fits it (no scrollbar inside, no Vote button below the fold).
  if (window.parent === window) return;
  function tell() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    window.parent.postMessage({ viche: "height", height: height }, "*");
  }
  if (window.ResizeObserver) new ResizeObserver(tell).observe(document.body);
  window.addEventListener("load", tell);
  // A loader that came after the load event asks.
  window.addEventListener("message", function (event) {
    if (event.source === window.parent && event.data && event.data.viche === "height?") tell();
  });
})();
