// Prodsim embed loader. Turns every
//   <div data-prodsim="rate-limiting" data-params="algorithm=token_bucket&limit=20"></div>
// into a sandboxed iframe of that scenario, sized to its content.
(function () {
  "use strict";
  var script = document.currentScript;
  // The playground lives next to this script, wherever that is hosted.
  var base = script ? script.src.replace(/[^\/]*$/, "") : "./";
  var frames = [];

  function mount(el) {
    if (el.getAttribute("data-prodsim-mounted")) return;
    el.setAttribute("data-prodsim-mounted", "1");
    var id = el.getAttribute("data-prodsim");
    var params = el.getAttribute("data-params") || "";
    var src = base + "index.html?s=" + encodeURIComponent(id) + (params ? "&" + params : "") + "&embed=1";
    var frame = document.createElement("iframe");
    frame.src = src;
    frame.title = "Prodsim: " + id;
    frame.loading = "lazy";
    frame.setAttribute("sandbox", "allow-scripts allow-popups");
    frame.style.width = "100%";
    frame.style.border = "0";
    frame.style.height = "480px";
    el.appendChild(frame);
    frames.push(frame);
  }

  window.addEventListener("message", function (ev) {
    var data = ev.data;
    if (!data || data.prodsim !== "resize" || typeof data.height !== "number") return;
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === ev.source) {
        frames[i].style.height = Math.min(Math.max(data.height, 120), 4000) + "px";
      }
    }
  });

  function mountAll() {
    var nodes = document.querySelectorAll("[data-prodsim]");
    for (var i = 0; i < nodes.length; i++) mount(nodes[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
