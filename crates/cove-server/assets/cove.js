// Cove console behaviour: charts from data attributes, reload after actions.
(function () {
  "use strict";

  var palette = ["#4845e4", "#14b8a6", "#f59e0b", "#ec4899", "#0ea5e9", "#8b5cf6", "#22c55e", "#f97316", "#64748b"];
  var axisText = { color: "#64748b", fontSize: 11 };
  var splitLine = { lineStyle: { color: "#eef1f6" } };

  function config(el) {
    try { return JSON.parse(el.getAttribute("data-config") || "{}"); } catch (e) { return {}; }
  }

  function emptyGraphic(text, show) {
    return show ? [{ type: "text", left: "center", top: "middle", style: { text: text, fill: "#94a3b8", fontSize: 14 } }] : [];
  }

  function yuanAxis(v) {
    if (Math.abs(v) >= 1e8) return (v / 1e8).toFixed(1) + "亿";
    if (Math.abs(v) >= 1e4) return (v / 1e4).toFixed(0) + "万";
    return String(v);
  }

  // Monthly figures per channel as stacked areas; `metric` is "gmv" (yuan) or "orders".
  function salesChart(el, c, metric) {
    var gmv = metric !== "orders";
    var hasData = (c.series || []).some(function (s) { return s.orders.some(function (v) { return v > 0; }); });
    var series = (c.series || []).map(function (s) {
      return {
        name: s.name, type: "line", stack: "total", smooth: 0.3, symbol: "none", color: s.color,
        lineStyle: { width: 1.5 }, areaStyle: { opacity: 0.22 }, emphasis: { focus: "series" },
        data: gmv ? s.gmv : s.orders
      };
    });
    return {
      color: palette,
      grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
      legend: { top: 0, left: 0, type: "scroll", icon: "roundRect", itemWidth: 12, itemHeight: 8, textStyle: { color: "#475569" } },
      tooltip: { trigger: "axis", valueFormatter: gmv ? function (v) { return "¥" + Number(v).toLocaleString(); } : undefined },
      xAxis: { type: "category", boundaryGap: false, data: c.months || [], axisLabel: axisText, axisLine: { lineStyle: { color: "#cbd5e1" } }, axisTick: { show: false } },
      yAxis: { type: "value", axisLabel: { color: "#64748b", fontSize: 11, formatter: gmv ? yuanAxis : undefined }, splitLine: splitLine },
      series: series,
      graphic: emptyGraphic(c.empty, !hasData)
    };
  }

  function membersChart(el, c) {
    var data = c.data || [];
    return {
      color: palette,
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      legend: { bottom: 0, left: "center", icon: "circle", itemWidth: 8, itemHeight: 8, itemGap: 12, textStyle: { color: "#475569" } },
      series: [{
        name: c.label, type: "pie", radius: ["42%", "66%"], center: ["50%", "42%"],
        itemStyle: { borderColor: "#fff", borderWidth: 2, borderRadius: 4 },
        label: { show: false }, emphasis: { label: { show: true, fontSize: 14, fontWeight: 600 } },
        data: data
      }],
      graphic: emptyGraphic(c.empty, data.length === 0)
    };
  }

  var builders = { sales: salesChart, members: membersChart };
  var charts = [];

  function drawCharts(root) {
    if (!window.echarts) return;
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.getAttribute("data-drawn")) return;
      var build = builders[el.getAttribute("data-chart")];
      if (!build) return;
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(build(el, config(el), el.getAttribute("data-metric")));
      el._chart = chart;
      // Marks the chart drawn once its first animation ends (tests wait for it).
      chart.on("finished", function () { el.setAttribute("data-rendered", "1"); });
      el.setAttribute("data-drawn", "1");
      charts.push(chart);
    });
  }

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });

  // Segmented controls switch a chart between metrics.
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-metric-for]");
    if (!button) return;
    var el = document.getElementById(button.getAttribute("data-metric-for"));
    if (!el || !el._chart) return;
    var metric = button.getAttribute("data-metric");
    el.setAttribute("data-metric", metric);
    el._chart.setOption(builders[el.getAttribute("data-chart")](el, config(el), metric), true);
    button.parentNode.querySelectorAll("button").forEach(function (b) {
      b.classList.toggle("active", b === button);
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
  });

  // Buttons marked data-reload reload the page once their htmx request succeeds.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var el = evt.detail && evt.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-reload") && evt.detail.successful) {
      window.location.reload();
    }
  });
})();
