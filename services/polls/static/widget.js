// Viche poll widget loader: <script src="https://SITE/api/polls/widget.js" data-poll="7" async>
// Puts the poll's iframe where the script tag stands, and keeps it as tall as the
// poll's page says it is; does the same for an iframe of ours marked data-viche-fit.
// No cookies, no tracking.
(function () {
  var scripts = document.querySelectorAll("script[data-poll]");
  for (var i = 0; i < scripts.length; i++) {
    var tag = scripts[i];
    if (tag.getAttribute("data-viche-done")) continue;
    tag.setAttribute("data-viche-done", "1");
    var base = tag.src.replace(/\/widget\.js(\?.*)?$/, "");
    var frame = document.createElement("iframe");
    var lang = tag.getAttribute("data-lang");
    frame.src = base + "/widget/" + encodeURIComponent(tag.getAttribute("data-poll")) +
      (lang ? "?lang=" + encodeURIComponent(lang) : "");
    frame.title = tag.getAttribute("data-title") || "Poll";
    frame.loading = "lazy";
    frame.style.cssText = "border:0;width:100%;max-width:32rem;height:" +
      (tag.getAttribute("data-height") || "420") + "px";
    tag.parentNode.insertBefore(frame, tag.nextSibling);
    fitToPage(frame, new URL(base).origin);
  }
  var marked = document.querySelectorAll("iframe[data-viche-fit]:not([data-viche-done])");
  for (var j = 0; j < marked.length; j++) {
    marked[j].setAttribute("data-viche-done", "1");
    fitToPage(marked[j], new URL(marked[j].src).origin);
  }

  function fitToPage(frame, origin) {
    window.addEventListener("message", function (event) {
      // Only this frame's own page, from our site, moves its height.
      if (event.source !== frame.contentWindow || event.origin !== origin) return;
      var height = event.data && event.data.viche === "height" && Number(event.data.height);
      if (height > 0) frame.style.height = Math.min(Math.max(height, 120), 4000) + "px";
    });
    // A frame that loaded before this script ran has told its height already: ask again.
    // To any origin: a frame still loading holds a blank page of the host's origin, and
    // naming ours would make the browser log an error there; the question says nothing,
    // and only our origin's answer is heard (above).
    if (frame.contentWindow) frame.contentWindow.postMessage({ viche: "height?" }, "*");
  }
})();
