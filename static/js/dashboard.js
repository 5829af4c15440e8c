/* Dashboard charts, drawn in the browser with Chart.js from the numbers the page embeds (the
   same numbers are in the tables beside each chart). */
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var tierColours = ["#5b2a86", "#3d5a80", "#c9a227", "#8d99ae", "#adb5bd", "#dee2e6"];
  var common = { responsive: true, maintainAspectRatio: false, animation: false };

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) {
      new Chart(canvas, config);
    }
  }

  draw("chart-per-tier", {
    type: "bar",
    data: {
      labels: data.perTier.labels,
      datasets: [{ data: data.perTier.values, backgroundColor: tierColours }],
    },
    options: Object.assign({}, common, { plugins: { legend: { display: false } } }),
  });
  draw("chart-share", {
    type: "line",
    data: {
      labels: data.share.labels,
      datasets: [{ data: data.share.values, borderColor: "#5b2a86", fill: false, tension: 0.2 }],
    },
    options: Object.assign({}, common, {
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return v + "%"; } } } },
    }),
  });
  draw("chart-movements", {
    type: "bar",
    data: {
      labels: data.movements.labels,
      datasets: [
        { label: data.movements.names[0], data: data.movements.up, backgroundColor: "#1b7f3b" },
        { label: data.movements.names[1], data: data.movements.raised, backgroundColor: "#8fc79e" },
        { label: data.movements.names[2], data: data.movements.down, backgroundColor: "#b42318" },
      ],
    },
    options: common,
  });
})();
