// The report charts (ECharts, from the npm registry: package.json). Data and labels come from the page's
// json_script element #chart-data; every element with data-chart="<name>" is drawn by the function of that
// name. No inline script (the CSP).
(function () {
  "use strict";
  function data() {
    var el = document.getElementById("chart-data");
    return el ? JSON.parse(el.textContent) : null;
  }
  var draw = {
    trend: function (chart, d) {
      var t = d.trend, l = d.labels;
      return {
        tooltip: { trigger: "axis" },
        legend: { data: [l.consultations, l.human_sessions, l.rate_3m] },
        xAxis: { type: "category", data: t.days },
        yAxis: [{ type: "value", minInterval: 1 }, { type: "value", min: 0, max: 100 }],
        series: [
          { name: l.consultations, type: "line", data: t.consultations },
          { name: l.human_sessions, type: "line", data: t.human_sessions },
          { name: l.rate_3m, type: "line", yAxisIndex: 1, data: t.rate_3m, connectNulls: true },
        ],
      };
    },
    ratings: function (chart, d) {
      var l = d.labels;
      return {
        tooltip: {},
        xAxis: { type: "category", data: [1, 2, 3, 4, 5].map(function (n) { return l.stars.replace("%(n)s", n); }) },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ name: l.ratings, type: "bar", data: d.ratings }],
      };
    },
    hourly: function (chart, d) {
      var l = d.labels;
      return {
        tooltip: { trigger: "axis" },
        legend: { data: [l.consultations, l.receptions, l.agents_online, l.recommended] },
        xAxis: { type: "category", data: d.hours },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: l.consultations, type: "bar", data: d.consultations },
          { name: l.receptions, type: "bar", data: d.receptions },
          { name: l.agents_online, type: "line", step: "middle", data: d.agents_online },
          { name: l.recommended, type: "line", step: "middle", lineStyle: { type: "dashed" }, data: d.recommended },
        ],
      };
    },
  };
  function start() {
    var d = data();
    if (!d || typeof echarts === "undefined") return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var make = draw[el.dataset.chart];
      if (!make) return;
      var chart = echarts.init(el);
      chart.setOption(make(chart, d));
      el.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
