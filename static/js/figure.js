/* Draw plotly figures embedded in the page with json_script: <div data-figure-json="ID">. */
(function () {
  "use strict";
  var CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  document.querySelectorAll("[data-figure-json]").forEach(function (target) {
    var source = document.getElementById(target.getAttribute("data-figure-json"));
    if (!source || !window.Plotly) return;
    var fig = JSON.parse(source.textContent);
    target.innerHTML = "";
    Plotly.newPlot(target, fig.data, fig.layout, CONFIG);
  });
})();
