// Viche poll widget loader: <script src="https://SITE/api/polls/widget.js" data-poll="7" async>
// Puts the poll's iframe where the script tag stands. No cookies, no tracking.
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
  }
})();
