// onecode planner dashboard: reads /v1/planner/* with the planner's bearer token and
// draws them with Apache ECharts. No inline script, no eval (CSP 'self').
// A suppressed cell (fewer than k distinct travellers) is drawn as suppressed:
// hatched grey, labelled, and counted on its card; never as zero, never as the biggest.
// Words come from /v1/dashboard/messages (the server's zh-CN and en catalogs): the
// planner's choice, else the browser's languages, else the region's default (zh-CN).
(function () {
  "use strict";

  var TOKEN_KEY = "onecode.planner.token";
  var REGION_KEY = "onecode.planner.region";
  var LANG_KEY = "onecode.planner.lang";
  var MATRIX_ABOVE = 12; // more venues than this: the OD Sankey becomes a matrix heatmap
  var SUP_FILL = "#d5d9df";
  var SUP_EDGE = "#8d949e";
  var HATCH = {
    symbol: "rect", symbolSize: 1, color: "rgba(90, 98, 110, 0.45)",
    dashArrayX: [1, 0], dashArrayY: [2, 4], rotation: -Math.PI / 4
  };
  var charts = {};
  var k = null; // the server's k, when an answer tells it
  var M = {}; // the messages of LOCALE
  var LOCALE = document.documentElement.lang || "zh-CN";
  var REGION_NAMES = {};
  var status = { key: "status.begin", values: {}, error: false, text: null };

  function $(sel) { return document.querySelector(sel); }

  // ---------- words ----------

  // a message with its {placeholders} filled (plain names only)
  function t(key, values) {
    var text = Object.prototype.hasOwnProperty.call(M, key) ? M[key] : key;
    return text.replace(/\{([a-z_]+)\}/g, function (all, name) {
      return values && values[name] !== undefined ? String(values[name]) : all;
    });
  }
  function weekdays() { return t("weekdays").split(","); }
  function num(v) {
    try { return new Intl.NumberFormat(LOCALE).format(v); } catch (e) { return String(v); }
  }
  function regionLabel(code) {
    var name = REGION_NAMES[code];
    return name ? name : String(code);
  }
  // narrow cards (phones): smaller labels, fewer axis ticks
  function narrow(name) {
    var el = document.getElementById("chart-" + name);
    return !!el && el.clientWidth < 560;
  }

  function applyMessages() {
    document.documentElement.lang = LOCALE;
    var els = document.querySelectorAll("[data-i18n]");
    for (var i = 0; i < els.length; i++) {
      var key = els[i].getAttribute("data-i18n");
      if (key.indexOf("status.") === 0) continue; // the status line is set below
      els[i].textContent = t(key);
    }
    document.title = t("page.title");
    $("#lang").value = LOCALE;
    var legend = $("#legend-text");
    legend.textContent = "";
    var parts = t("legend").split("{k}");
    legend.appendChild(document.createTextNode(parts[0]));
    var kSpan = document.createElement("span");
    kSpan.className = "k";
    kSpan.textContent = k ? String(k) : "k";
    legend.appendChild(kSpan);
    legend.appendChild(document.createTextNode(parts.slice(1).join("{k}")));
    $("#token").placeholder = token() ? t("token.saved") : "oc_planner_…";
    $("#levels").setAttribute("aria-label", t("alerts.levels_aria"));
    $("#recent").setAttribute("aria-label", t("alerts.recent_aria"));
    showRegionName();
    renderStatus();
  }

  function showRegionName() {
    var code = $("#region").value.trim().toUpperCase();
    $("#region-name").textContent = REGION_NAMES[code] || "";
  }

  function loadMessages(region) {
    var q = new URLSearchParams();
    if (region) q.set("region", region);
    var lang = sessionStorage.getItem(LANG_KEY);
    if (lang) q.set("lang", lang);
    return fetch("/v1/dashboard/messages?" + q.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d && d.messages) {
          M = d.messages;
          LOCALE = d.locale;
          REGION_NAMES = d.region_names || {};
        }
        applyMessages();
      })
      .catch(function () { applyMessages(); });
  }

  // ---------- small helpers over the planner API's shapes ----------

  function rowsOf(d) {
    if (Array.isArray(d)) return d;
    if (!d || typeof d !== "object") return [];
    var keys = ["rows", "cells", "hours", "venues", "links", "bins", "items"];
    for (var i = 0; i < keys.length; i++) {
      if (Array.isArray(d[keys[i]])) return d[keys[i]];
    }
    return [];
  }
  function isSuppressed(r, value) {
    return r.suppressed === true || value === null;
  }
  function kText() { return t("k.text", { k: k || "k" }); }
  function supLabel() { return t("sup.label", { ktext: kText() }); }
  function noteK(d) {
    var v = d && typeof d === "object" ? (d.window ? d.window.k : d.k) : undefined;
    if (typeof v === "number") {
      k = v;
      var spans = document.querySelectorAll(".k");
      for (var i = 0; i < spans.length; i++) spans[i].textContent = String(v);
    }
  }
  // buckets are venue-local wall-clock strings: "2026-05-01" or "2026-05-01T09:00"
  function fmtBucket(v) {
    v = String(v);
    return v.length > 10 ? v.slice(5, 10) + " " + v.slice(11, 16) : v;
  }
  function fmtHour(h) { return (h < 10 ? "0" : "") + h + ":00"; }
  function isoDay(d) {
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate());
  }
  // "today" for the default range: the later of the browser's day and China's day, so a
  // planner abroad still sees the venues' current day (venue days are local to the venue)
  function today() {
    var here = isoDay(new Date()), china = here;
    try {
      china = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
    } catch (e) { /* no time zone data: the browser's day */ }
    return china > here ? china : here;
  }

  // ---------- token, filters, fetching ----------

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  // the status line is kept as a message key, so that a language switch rewrites it
  function setStatus(key, values, error) {
    status = { key: key, values: values || {}, error: !!error };
    renderStatus();
  }
  function renderStatus() {
    var el = $("#status");
    el.textContent = t(status.key, status.values);
    el.className = "status" + (status.error ? " error" : "");
    el.setAttribute("data-status", status.key);
  }

  function filters() {
    return {
      region: $("#region").value.trim().toUpperCase(),
      from: $("#from").value,
      to: $("#to").value,
      venue: $("#venue").value,
      day: $("#day").value || $("#to").value
    };
  }

  function query(endpoint, f, extra) {
    var q = new URLSearchParams();
    if (endpoint === "occupancy") {
      q.set("venue", f.venue);
      q.set("date", f.day);
    } else {
      q.set("region", f.region);
      q.set("from", f.from);
      q.set("to", f.to);
    }
    if (endpoint === "arrivals") q.set("grain", spanDays(f) > 3 ? "day" : "hour");
    Object.keys(extra || {}).forEach(function (name) { q.set(name, extra[name]); });
    return "/v1/planner/" + endpoint + "?" + q.toString();
  }

  function spanDays(f) {
    var a = new Date(f.from + "T00:00:00Z"), b = new Date(f.to + "T00:00:00Z");
    return Math.round((b - a) / 86400000) + 1;
  }

  function problemText(resp, body) {
    try {
      var p = JSON.parse(body);
      return resp.status + " " + (p.detail || p.title || "") + (p.code ? " [" + p.code + "]" : "");
    } catch (e) {
      return resp.status + " " + resp.statusText;
    }
  }

  function headers(accept) {
    return { Authorization: "Bearer " + token(), Accept: accept, "Accept-Language": LOCALE };
  }

  function api(url) {
    return fetch(url, { headers: headers("application/json") })
      .then(function (resp) {
        return resp.text().then(function (body) {
          if (!resp.ok) {
            var err = new Error(problemText(resp, body));
            err.status = resp.status;
            throw err;
          }
          return JSON.parse(body);
        });
      });
  }

  function downloadCsv(endpoint) {
    var f = filters();
    var url = query(endpoint, f, { format: "csv" });
    fetch(url, { headers: headers("text/csv") })
      .then(function (resp) {
        if (!resp.ok) return resp.text().then(function (b) { throw new Error(problemText(resp, b)); });
        return resp.blob();
      })
      .then(function (blob) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = "onecode-" + endpoint + "-" + (endpoint === "occupancy" ? f.day : f.from + "_" + f.to) + ".csv";
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      })
      .catch(function (err) {
        setStatus("status.csv", { name: t("card." + endpoint), error: err.message }, true);
      });
  }

  // ---------- chart cards ----------

  function card(name) { return document.querySelector('[data-card="' + name + '"]'); }

  function chartFor(name) {
    if (!charts[name]) {
      charts[name] = echarts.init(document.getElementById("chart-" + name), null, { renderer: "canvas" });
    }
    return charts[name];
  }

  // the noise of a differentially private answer (issue #16): "±N at 95%" per field
  function noiseOf(d) { return d && d.window && d.window.noise ? d.window.noise : (d && d.noise) || null; }
  function pm(d, field) {
    var n = noiseOf(d);
    return n && n.ci95 && typeof n.ci95[field] === "number" ? " ±" + n.ci95[field] : "";
  }
  function noiseNote(d, fields) {
    var n = noiseOf(d);
    if (!n) return "";
    var parts = fields.filter(function (f) { return n.ci95 && typeof n.ci95[f] === "number"; })
      .map(function (f) { return t("field." + f) + " ±" + n.ci95[f]; });
    return t("noise.head") + (n.epsilon ? t("noise.eps", { eps: n.epsilon }) : "") +
      (parts.length ? t("noise.parts", { parts: parts.join(LOCALE === "zh-CN" ? "，" : ", ") }) : "") +
      (n.released_through ? t("noise.released", { day: n.released_through }) : t("noise.none"));
  }

  function finish(name, points, suppressed, note) {
    var el = document.getElementById("chart-" + name);
    el.setAttribute("data-points", String(points));
    el.setAttribute("data-suppressed", String(suppressed));
    el.setAttribute("data-state", "rendered");
    var badge = card(name).querySelector(".sup-count");
    if (suppressed > 0) {
      badge.textContent = t("sup.count", { n: num(suppressed), ktext: kText() });
      badge.hidden = false;
    } else {
      badge.hidden = true;
    }
    var n = card(name).querySelector(".note");
    n.className = "note";
    n.textContent = note || (points === 0 && suppressed === 0 ? t("note.no_data") : "");
  }

  function fail(name, err) {
    var el = document.getElementById("chart-" + name);
    el.setAttribute("data-points", "0");
    el.setAttribute("data-suppressed", "0");
    el.setAttribute("data-state", "error");
    el.setAttribute("data-status", String(err.status || ""));
    if (charts[name]) charts[name].clear();
    var n = card(name).querySelector(".note");
    n.className = "note error";
    n.textContent = err.message || String(err);
  }

  // a light hatched column behind each suppressed time bucket, on hidden axes of its own
  // (0..1, the same categories): it reads as "not shown here", never as a tall bar or as
  // zero, and it takes no width from the data bars beside it
  var SUP_AXIS = { type: "value", min: 0, max: 1, show: false };
  function supXAxis(cats) { return { type: "category", data: cats, show: false }; }
  function supColumns(cats, supCats) {
    return {
      name: t("sup.short"), type: "bar", xAxisIndex: 1, yAxisIndex: 1, z: 0, barWidth: "90%",
      data: cats.map(function (c) { return supCats.indexOf(c) >= 0 ? 1 : null; }),
      itemStyle: { color: SUP_FILL, opacity: 0.55, borderColor: SUP_EDGE, borderWidth: 0.5, decal: HATCH }
    };
  }


  // 1. arrivals: visits (bars) and unique visitors (line)
  function drawArrivals(d) {
    noteK(d);
    var byBucket = {}, order = [];
    rowsOf(d).forEach(function (r) {
      var b = r.bucket, visits = r.visits, visitors = r.visitors;
      if (!(b in byBucket)) { byBucket[b] = { visits: 0, visitors: 0, sup: false, any: false }; order.push(b); }
      var e = byBucket[b];
      if (isSuppressed(r, visits)) { e.sup = true; return; }
      e.any = true;
      e.visits += visits || 0;
      e.visitors += visitors || 0;
    });
    order.sort();
    var cats = order.map(fmtBucket);
    var supCats = [], points = 0;
    var visits = order.map(function (b, i) {
      var e = byBucket[b];
      if (e.sup && !e.any) { supCats.push(cats[i]); return null; }
      points++;
      return e.visits;
    });
    var visitors = order.map(function (b) {
      var e = byBucket[b];
      return e.sup && !e.any ? null : e.visitors;
    });
    chartFor("arrivals").setOption({
      tooltip: { trigger: "axis", renderMode: "richText", confine: true, formatter: function (ps) {
        var i = ps[0].dataIndex;
        if (supCats.indexOf(cats[i]) >= 0) return cats[i] + "  " + supLabel();
        return cats[i] + "\n" + t("series.visits") + ": " + num(visits[i]) + pm(d, "visits") + "\n" +
          t("series.visitors") + ": " + num(visitors[i]) + pm(d, "visitors") + " (95%)";
      } },
      legend: { data: [t("series.visits"), t("series.visitors")], top: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 40, containLabel: true },
      xAxis: [{ type: "category", data: cats, axisLabel: { hideOverlap: true } }, supXAxis(cats)],
      yAxis: [{ type: "value", minInterval: 1 }, SUP_AXIS],
      dataZoom: cats.length > 48 ? [{ type: "inside" }, { type: "slider", height: 16, bottom: 4 }] : [],
      series: [
        { name: t("series.visits"), type: "bar", data: visits, itemStyle: { color: "#0b6e4f" },
          tooltip: { valueFormatter: function (v) { return v === null ? "–" : num(v) + pm(d, "visits") + " (95%)"; } } },
        { name: t("series.visitors"), type: "line", data: visitors, connectNulls: false,
          itemStyle: { color: "#d17b0f" }, symbolSize: 5,
          tooltip: { valueFormatter: function (v) { return v === null ? "–" : num(v) + pm(d, "visitors") + " (95%)"; } } },
        supColumns(cats, supCats)
      ]
    }, true);
    finish("arrivals", points, supCats.length, noiseNote(d, ["visits", "visitors"]));
  }

  // 2. hour x weekday heatmap
  function drawHeatmap(d) {
    noteK(d);
    var values = [], sup = [], max = 0;
    rowsOf(d).forEach(function (r) {
      var h = r.hour, v = r.visits;
      var y = r.weekday - 1; // ISO weekday: 1 = Monday
      if (isSuppressed(r, v)) { sup.push([h, y, 1]); return; }
      values.push([h, y, v]);
      if (v > max) max = v;
    });
    var hours = [];
    for (var i = 0; i < 24; i++) hours.push(String(i));
    var days = weekdays(), small = narrow("heatmap");
    chartFor("heatmap").setOption({
      tooltip: { renderMode: "richText", confine: true, formatter: function (p) {
        if (p.seriesIndex === 1) return days[p.value[1]] + " " + p.value[0] + ":00 — " + supLabel();
        return days[p.value[1]] + " " + p.value[0] + ":00 — " + t("heat.visits", { n: num(p.value[2]) + pm(d, "visits") }) + " (95%)";
      } },
      grid: { left: 8, right: 12, top: 10, bottom: 64, containLabel: true },
      xAxis: { type: "category", data: hours, splitArea: { show: true }, name: t("axis.hour"),
        nameLocation: "middle", nameGap: 24, axisLabel: { interval: small ? 2 : 0, fontSize: small ? 10 : 12 } },
      yAxis: { type: "category", data: days, splitArea: { show: true }, inverse: true },
      visualMap: { min: 0, max: Math.max(max, 1), calculable: true, orient: "horizontal", left: "center",
        bottom: 0, itemHeight: 120, itemWidth: 10, seriesIndex: 0,
        inRange: { color: ["#e8f3ee", "#7cc5a1", "#0b6e4f", "#063d2c"] } },
      series: [
        { name: t("series.visits"), type: "heatmap", data: values, emphasis: { itemStyle: { borderColor: "#333", borderWidth: 1 } } },
        { name: t("sup.short"), type: "heatmap", data: sup,
          itemStyle: { color: SUP_FILL, borderColor: SUP_EDGE, borderWidth: 0.5, decal: HATCH },
          label: { show: sup.length <= 40 && !small, formatter: t("sup.cell"), color: "#39404a", fontSize: 9 } }
      ]
    }, true);
    finish("heatmap", values.length, sup.length, noiseNote(d, ["visits"]));
  }

  // 3. origin-destination: Sankey (sources on the left, destinations on the right:
  //    no cycles even when trips go both ways), or a matrix heatmap for many venues
  function drawOd(d) {
    noteK(d);
    var nodes = Array.isArray(d && d.nodes) ? d.nodes : [];
    var names = {};
    nodes.forEach(function (n) {
      names[n.id] = n.name;
    });
    var links = Array.isArray(d && d.links) ? d.links : rowsOf(d);
    var shown = [], sup = [];
    links.forEach(function (l) {
      var t = l.trips;
      var e = { from: names[l.from] || String(l.from).slice(0, 8), to: names[l.to] || String(l.to).slice(0, 8), trips: t };
      if (isSuppressed(l, t)) sup.push(e); else shown.push(e);
    });
    var venues = {};
    shown.concat(sup).forEach(function (e) { venues[e.from] = 1; venues[e.to] = 1; });
    var venueList = Object.keys(venues).sort();
    var chart = chartFor("od");
    if (venueList.length > MATRIX_ABOVE) {
      var vals = shown.map(function (e) { return [venueList.indexOf(e.to), venueList.indexOf(e.from), e.trips]; });
      var supCells = sup.map(function (e) { return [venueList.indexOf(e.to), venueList.indexOf(e.from), 1]; });
      var max = shown.reduce(function (m, e) { return Math.max(m, e.trips); }, 1);
      chart.setOption({
        tooltip: { renderMode: "richText", confine: true, formatter: function (p) {
          var label = venueList[p.value[1]] + " → " + venueList[p.value[0]];
          return label + ": " + (p.seriesIndex === 1 ? supLabel() : t("od.trips", { n: num(p.value[2]) }));
        } },
        grid: { left: 8, right: 16, top: 24, bottom: 48, containLabel: true },
        xAxis: { type: "category", data: venueList, name: t("od.to"), axisLabel: { rotate: 45, width: 110, overflow: "truncate" } },
        yAxis: { type: "category", data: venueList, name: t("od.from"), inverse: true, axisLabel: { width: 140, overflow: "truncate" } },
        visualMap: { min: 0, max: max, seriesIndex: 0, orient: "horizontal", left: "center", bottom: 0,
          itemHeight: 120, itemWidth: 10, inRange: { color: ["#e8f3ee", "#0b6e4f", "#063d2c"] } },
        series: [
          { type: "heatmap", data: vals },
          { type: "heatmap", data: supCells, itemStyle: { color: SUP_FILL, borderColor: SUP_EDGE, borderWidth: 0.5, decal: HATCH } }
        ]
      }, true);
    } else {
      // suppressed links are drawn as thin dashed grey threads (a nominal width, not a count),
      // labelled when there are few of them; the tooltip and the card's badge always say so
      var minTrips = shown.reduce(function (m, e) { return Math.min(m, e.trips); }, Infinity);
      var nominal = isFinite(minTrips) ? Math.max(minTrips * 0.06, 0.1) : 1;
      var labelSup = sup.length <= 10;
      var used = {};
      var data = [];
      // destinations sit on the right edge: their labels go inside, to the left
      function node(n) {
        if (used[n]) return;
        used[n] = 1;
        data.push(n.charAt(0) === "›" ? { name: n, label: { position: "left" } } : { name: n });
      }
      var sankeyLinks = shown.map(function (e) {
        node(e.from + " ›"); node("› " + e.to);
        return { source: e.from + " ›", target: "› " + e.to, value: e.trips };
      }).concat(sup.map(function (e) {
        node(e.from + " ›"); node("› " + e.to);
        return { source: e.from + " ›", target: "› " + e.to, value: nominal, suppressed: true,
          lineStyle: { color: SUP_EDGE, opacity: 0.8, type: "dashed", width: 1 } };
      }));
      // on a phone the two label columns share the width: each gets under half of it,
      // wraps instead of truncating, and carries a white halo over the coloured links
      var small = narrow("od");
      var width = document.getElementById("chart-od").clientWidth || 600;
      var labelWidth = small ? Math.max(80, Math.floor(width * 0.4)) : 160;
      chart.setOption({
        tooltip: { trigger: "item", renderMode: "richText", confine: true, formatter: function (p) {
          if (p.dataType !== "edge") return p.name.replace(/ ›$/, "").replace(/^› /, "");
          var label = p.data.source.replace(/ ›$/, "") + " → " + p.data.target.replace(/^› /, "");
          return label + ": " + (p.data.suppressed ? supLabel() : t("od.trips", { n: num(p.data.value) }));
        } },
        series: [{
          type: "sankey", data: data, links: sankeyLinks, nodeAlign: "justify", nodeGap: small ? 12 : 8,
          nodeWidth: small ? 10 : 20, left: 4, right: 4, top: 8, bottom: 8, draggable: false,
          label: { fontSize: small ? 11 : 12, overflow: "break", width: labelWidth, lineHeight: small ? 13 : 14,
            color: "#1d2430", textBorderColor: "#fff", textBorderWidth: 3 },
          lineStyle: { color: "gradient", curveness: 0.5, opacity: 0.4 },
          emphasis: { focus: "adjacency" },
          edgeLabel: { show: !small, fontSize: 9, color: "#39404a", textBorderColor: "#fff", textBorderWidth: 2,
            formatter: function (p) { return p.data.suppressed && labelSup ? t("sup.short") : ""; } }
        }]
      }, true);
    }
    finish("od", shown.length, sup.length,
      (venueList.length > MATRIX_ABOVE ? t("od.matrix") + " " : "") + noiseNote(d, ["trips"]));
  }

  // a y axis whose top is a whole number of its own steps: no "51" squeezed onto "50"
  function niceAxis(top) {
    if (!(top > 0)) return { max: 10, interval: 2 };
    var raw = top / 5, mag = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), n = raw / mag;
    var step = Math.max(1, Math.ceil((n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag));
    return { max: Math.ceil(top / step) * step, interval: step };
  }

  // 4. occupancy of one venue over a day against its capacity, with 80/90/95% bands
  function drawOccupancy(d) {
    noteK(d);
    var cap = d.capacity_instant;
    var th = d.thresholds || {};
    var cats = [], inside = [], supCats = [], points = 0, max = 0, byLevel = false, lv = [];
    var y80 = (th.yellow || 80) / 100, y90 = (th.orange || 90) / 100, y95 = (th.red || 95) / 100;
    // planners get the crowd level of each hour, not a count (issue #16): drawn inside its band
    var LEVEL_AT = { green: y80 / 2, yellow: (y80 + y90) / 2, orange: (y90 + y95) / 2, red: (y95 + 1) / 2 };
    rowsOf(d).forEach(function (r) {
      var c = fmtHour(r.hour), v = r.inside;
      cats.push(c); lv.push(r.level);
      if ((v === null || v === undefined) && r.level && cap) { v = Math.round(LEVEL_AT[r.level] * cap); byLevel = true; }
      else if (isSuppressed(r, v)) { inside.push(null); supCats.push(c); return; }
      inside.push(v); points++;
      if (v > max) max = v;
    });
    var axis = niceAxis(Math.max(cap || 0, max) * 1.05);
    var series = [{
      name: t("occ.inside"), type: "line", data: inside, step: false, symbolSize: 3, connectNulls: false,
      itemStyle: { color: "#0b6e4f" }, areaStyle: { opacity: 0.15 }, z: 3
    }];
    if (cap) {
      var band = function (lo, hi, color, name) {
        return [{ yAxis: lo * cap, itemStyle: { color: color, opacity: 0.22 }, name: name }, { yAxis: hi * cap }];
      };
      series.push({
        name: "levels", type: "line", data: [], silent: true,
        // band names on the right edge, the capacity line's label on the left: never on each other
        markArea: { silent: true, label: { show: true, position: "insideRight", fontSize: 10, color: "#5b6472" },
          data: [band(y80, y90, "#e6c300", "≥" + Math.round(y80 * 100) + "%"),
            band(y90, y95, "#f08a00", "≥" + Math.round(y90 * 100) + "%"),
            band(y95, Math.max(1, axis.max / cap), "#d62d20", "≥" + Math.round(y95 * 100) + "%")] },
        markLine: { silent: true, symbol: "none", lineStyle: { type: "dashed", color: "#7a828e" },
          label: { formatter: "{b}", position: "insideStartTop", fontSize: 10, color: "#39404a" },
          data: [{ yAxis: cap, name: t("occ.capacity", { n: num(cap) }) }] }
      });
    }
    var levels = cap ? { show: false, seriesIndex: 0, dimension: 1, pieces: [
      { lt: y80 * cap, color: "#0b6e4f" }, { gte: y80 * cap, lt: y90 * cap, color: "#c9a400" },
      { gte: y90 * cap, lt: y95 * cap, color: "#f08a00" }, { gte: y95 * cap, color: "#d62d20" }] } : [];
    chartFor("occupancy").setOption({
      visualMap: levels,
      tooltip: { trigger: "axis", renderMode: "richText", confine: true, formatter: function (ps) {
        var i = ps[0].dataIndex;
        var v = supCats.indexOf(cats[i]) >= 0 ? supLabel() : byLevel ? t("occ.level", { level: t("level." + lv[i]) }) : cap
          ? t("occ.tooltip_cap", { n: num(inside[i]), pct: Math.round(100 * inside[i] / cap), cap: num(cap) })
          : t("occ.tooltip", { n: num(inside[i]) });
        return cats[i] + "  " + v;
      } },
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      xAxis: [{ type: "category", data: cats, boundaryGap: true, axisLabel: { hideOverlap: true } },
        supXAxis(cats)],
      yAxis: [{ type: "value", max: axis.max, interval: axis.interval, minInterval: 1 }, SUP_AXIS],
      // suppressed hours: light hatched columns behind the line (the last series)
      series: series.concat([supColumns(cats, supCats)])
    }, true);
    var note = t(byLevel ? "occ.note_levels" : "occ.note", { name: d.name, date: d.date, tz: d.timezone }) +
      (byLevel && pm(d, "entries") ? t("occ.arrivals_pm", { pm: pm(d, "entries") }) : "") +
      (d.peak_inside !== null && d.peak_inside !== undefined ? t("occ.peak", { n: num(d.peak_inside), hour: fmtHour(d.peak_hour) }) : "");
    finish("occupancy", points, supCats.length, note + (LOCALE === "zh-CN" ? "。" : "."));
  }

  // horizontal bars whose suppressed rows are drawn as stubs of k (the bound of "<k"),
  // hatched and labelled: shorter than every shown bar, never the biggest
  function supStubs(vals, supCount, bound) {
    return vals.map(function (v, i) { return i < supCount ? bound : null; });
  }

  // 5. visitor origins: home regions with their names, largest first
  function drawOrigins(d) {
    noteK(d);
    var shown = [], supNames = [];
    rowsOf(d).forEach(function (r) {
      var code = String(r.home_region), v = r.visitors;
      var name = r.home_region_name || regionLabel(code);
      if (isSuppressed(r, v)) supNames.push(name); else shown.push([name, v, code]);
    });
    shown.sort(function (a, b) { return a[1] - b[1]; });
    supNames.sort();
    // suppressed rows at the bottom: fewer than k each, below every shown row
    var cats = supNames.concat(shown.map(function (e) { return e[0]; }));
    var vals = supNames.map(function () { return null; }).concat(shown.map(function (e) { return e[1]; }));
    var bound = k || 10;
    var small = narrow("origins");
    chartFor("origins").setOption({
      tooltip: { trigger: "axis", renderMode: "richText", confine: true, formatter: function (ps) {
        var i = ps[0].dataIndex;
        return cats[i] + ": " + (i < supNames.length ? supLabel() : num(vals[i]) + " " + t("origins.visitors"));
      } },
      grid: { left: 8, right: 36, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: cats,
        axisLabel: { interval: 0, fontSize: small ? 10 : 12, width: small ? 90 : 140, overflow: "truncate" } },
      series: [
        { name: t("origins.visitors"), type: "bar", data: vals, itemStyle: { color: "#2f6db3" }, barMaxWidth: 28,
          label: { show: true, position: "right", fontSize: 10 } },
        { name: t("sup.short"), type: "bar", data: supStubs(vals, supNames.length, bound), barGap: "-100%",
          barMaxWidth: 28, itemStyle: { color: SUP_FILL, borderColor: SUP_EDGE, borderWidth: 1, decal: HATCH },
          label: { show: true, position: "right", fontSize: 10, color: "#39404a", formatter: "<" + bound } }
      ]
    }, true);
    finish("origins", shown.length, supNames.length, noiseNote(d, ["visitors"]));
  }

  // 6. booking use: no-show rate per venue (no_show / (used + no_show))
  function drawBookings(d) {
    noteK(d);
    var supNames = [], shown = [], empty = 0;
    rowsOf(d).forEach(function (r) {
      if (isSuppressed(r, r.no_show_rate)) {
        // a venue whose slots have not ended yet has no rate, and is not suppressed
        if (r.suppressed) supNames.push(r.name); else empty++;
        return;
      }
      shown.push([r.name, Math.round(r.no_show_rate * 1000) / 10, r.used + r.no_show]);
    });
    shown.sort(function (a, b) { return a[1] - b[1]; });
    supNames.sort();
    var cats = supNames.concat(shown.map(function (e) { return e[0]; }));
    var vals = supNames.map(function () { return null; }).concat(shown.map(function (e) { return e[1]; }));
    var small = narrow("bookings");
    chartFor("bookings").setOption({
      tooltip: { trigger: "axis", renderMode: "richText", confine: true, formatter: function (ps) {
        var i = ps[0].dataIndex;
        return cats[i] + ": " + (i < supNames.length ? supLabel() : vals[i] + "%");
      } },
      grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", name: "%", max: function (v) { return Math.max(10, Math.ceil(v.max / 10) * 10); } },
      yAxis: { type: "category", data: cats,
        axisLabel: { interval: 0, fontSize: small ? 10 : 12, width: small ? 100 : 140, overflow: "truncate" } },
      graphic: cats.length ? [] : [{ type: "text", left: "center", top: "middle",
        style: { text: t("bookings.none"), fill: "#5b6472", fontSize: 13 } }],
      series: [{ name: t("bookings.rate"), type: "bar", data: vals, itemStyle: { color: "#a33b5b" }, barMaxWidth: 28,
        label: { show: true, position: "right", fontSize: 10, formatter: "{c}%" } },
        // a suppressed rate has no bound: no bar at all, only its label at the axis
        { name: t("sup.short"), type: "bar", data: supStubs(vals, supNames.length, 0), barGap: "-100%",
          barMaxWidth: 28, itemStyle: { color: SUP_FILL },
          label: { show: true, position: "right", fontSize: 10, color: "#39404a", formatter: t("sup.short") } }]
    }, true);
    var overall = d.no_show_rate;
    finish("bookings", shown.length, supNames.length,
      (typeof overall === "number" ? t("bookings.overall", { pct: Math.round(overall * 1000) / 10 }) : "") +
      (empty ? t("bookings.empty", { n: num(empty) }) : ""));
  }

  var DRAW = {
    arrivals: drawArrivals, heatmap: drawHeatmap, od: drawOd,
    occupancy: drawOccupancy, origins: drawOrigins, bookings: drawBookings
  };
  var last = {}; // the last answer of each chart, redrawn on a language switch

  function loadChart(name, f) {
    if (name === "occupancy" && !f.venue) {
      last[name] = null;
      finish("occupancy", 0, 0, t("occ.no_venue"));
      return Promise.resolve();
    }
    var el = document.getElementById("chart-" + name);
    el.setAttribute("data-state", "loading");
    el.removeAttribute("data-status");
    return api(query(name, f))
      .then(function (d) { last[name] = d; DRAW[name](d); })
      .catch(function (err) { last[name] = null; fail(name, err); });
  }

  // the venues of the planner's scope, from the server, busiest of the day first
  var venueChosen = false;
  var venuesFor = null;
  function loadVenues(f) {
    var key = f.region + "|" + f.day;
    if (venuesFor === key) return Promise.resolve(null);
    var q = new URLSearchParams({ region: f.region, from: f.day, to: f.day });
    return api("/v1/planner/venues?" + q.toString())
      .then(function (d) {
        venuesFor = key;
        var sel = $("#venue"), keep = venueChosen ? sel.value : "";
        sel.textContent = "";
        rowsOf(d).forEach(function (v) {
          var o = document.createElement("option");
          o.value = v.id;
          o.textContent = v.name + (v.gated ? "" : " " + t("venue.ungated"));
          sel.appendChild(o);
        });
        if (keep && sel.querySelector('option[value="' + keep + '"]')) sel.value = keep;
        else if (d.busiest) sel.value = d.busiest;
        return null;
      })
      .catch(function (err) {
        $("#venue").textContent = "";
        return err; // the charts say what went wrong; a 401 here is the token
      });
  }

  function settle(f) {
    var failed = document.querySelectorAll('.chart[data-state="error"]');
    var codes = [];
    for (var i = 0; i < failed.length; i++) codes.push(failed[i].getAttribute("data-status"));
    if (codes.indexOf("401") >= 0) setStatus("status.token_rejected", {}, true);
    else if (codes.length && codes.every(function (c) { return c === "403" || c === "404"; })) {
      setStatus("status.forbidden", { region: f.region }, true);
    } else if (codes.length) setStatus("status.errors", { n: num(codes.length) }, true);
    else setStatus("status.showing", { region: regionText(f.region), from: f.from, to: f.to });
  }

  function regionText(code) {
    var name = REGION_NAMES[code];
    return name ? name + " (" + code + ")" : code;
  }

  // ---------- crowd levels and alerts (GET /v1/alerts) ----------

  var ALERT_TEXT = {
    "venue.level_changed": function (d) {
      return t(d.kind === "daily" ? "alert.daily" : "alert.instant", {
        from: t("chip." + d.previous_level), to: t("chip." + d.level) });
    },
    "venue.capacity_forecast_reached": function (d) {
      return t("alert.forecast", { day: d.local_day, level: t("chip." + d.level), pct: d.load_pct });
    },
    "gate.offline": function (d) { return t("alert.gate_offline", { gate: d.gate_name, since: d.last_seen_at }); }
  };

  function chip(level) {
    var s = document.createElement("span");
    s.className = "level " + level;
    s.textContent = t("chip." + level);
    return s;
  }

  function drawAlerts(d) {
    var levels = $("#levels"), recent = $("#recent");
    levels.textContent = "";
    recent.textContent = "";
    var byVenue = {};
    (d.levels || []).forEach(function (lv) {
      var v = byVenue[lv.venue_id] || (byVenue[lv.venue_id] = { name: lv.venue_name });
      v[lv.kind] = lv.level;
    });
    Object.keys(byVenue).forEach(function (id) {
      var v = byVenue[id], li = document.createElement("li");
      li.appendChild(chip(v.instant || "green"));
      li.appendChild(document.createTextNode(v.name +
        (v.daily && v.daily !== "green" ? t("alerts.today", { level: t("chip." + v.daily) }) : "")));
      levels.appendChild(li);
    });
    (d.recent || []).forEach(function (a) {
      var li = document.createElement("li"), when = document.createElement("time");
      when.dateTime = a.created_at;
      when.textContent = a.created_at.slice(5, 16).replace("T", " ");
      li.appendChild(when);
      if (a.data && a.data.level) li.appendChild(chip(a.data.level));
      var text = (ALERT_TEXT[a.type] || function () { return a.type; })(a.data || {});
      li.appendChild(document.createTextNode((a.venue_name ? a.venue_name + ": " : "") + text));
      recent.appendChild(li);
    });
    var note = card("alerts").querySelector(".note");
    note.className = "note";
    note.textContent = t("alerts.note", { n: num(Object.keys(byVenue).length), m: num((d.recent || []).length) });
  }

  function loadAlerts(f) {
    return api("/v1/alerts?region=" + encodeURIComponent(f.region) + "&limit=20").then(drawAlerts)
      .catch(function (err) {
        var note = card("alerts").querySelector(".note");
        note.className = "note error";
        note.textContent = err.message;
      });
  }

  function refresh() {
    if (!token()) { setStatus("status.begin", {}, true); return; }
    var f = filters();
    if (!f.region || !f.from || !f.to) { setStatus("status.need", {}, true); return; }
    if (f.from > f.to) { setStatus("status.order", {}, true); return; }
    sessionStorage.setItem(REGION_KEY, f.region);
    setStatus("status.loading", { region: regionText(f.region), from: f.from, to: f.to });
    document.body.setAttribute("data-loaded", "0");
    loadVenues(f).then(function () {
      f = filters();
      var loads = Object.keys(DRAW).map(function (n) { return loadChart(n, f); });
      return Promise.all(loads.concat([loadAlerts(f)]));
    }).then(function () {
      settle(f);
      document.body.setAttribute("data-loaded", "1");
    });
  }

  function redraw() {
    Object.keys(DRAW).forEach(function (n) { if (last[n]) DRAW[n](last[n]); });
  }

  function init() {
    var to = today();
    var weekAgo = new Date(new Date(to + "T12:00:00Z").getTime() - 6 * 86400000);
    $("#to").value = to;
    $("#from").value = weekAgo.toISOString().slice(0, 10);
    $("#day").value = to;
    var region = sessionStorage.getItem(REGION_KEY);
    if (region) $("#region").value = region;

    $("#token-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var tk = $("#token").value.trim();
      if (tk) sessionStorage.setItem(TOKEN_KEY, tk);
      $("#token").value = "";
      $("#token").placeholder = t("token.saved");
      venuesFor = null;
      refresh();
    });
    $("#forget").addEventListener("click", function () {
      sessionStorage.removeItem(TOKEN_KEY);
      $("#token").placeholder = "oc_planner_…";
      setStatus("status.forgotten");
    });
    $("#lang").addEventListener("change", function () {
      sessionStorage.setItem(LANG_KEY, $("#lang").value);
      loadMessages($("#region").value.trim().toUpperCase()).then(function () {
        venuesFor = null; // the "(ungated)" suffix is a word too
        if (token()) refresh(); else redraw();
      });
    });
    $("#filters").addEventListener("submit", function (ev) { ev.preventDefault(); refresh(); });
    $("#region").addEventListener("change", function () { venueChosen = false; venuesFor = null; showRegionName(); });
    $("#day").addEventListener("change", function () { venuesFor = null; });
    $("#venue").addEventListener("change", function () { venueChosen = true; });
    var buttons = document.querySelectorAll("button.csv");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (ev) { downloadCsv(ev.currentTarget.getAttribute("data-endpoint")); });
    }
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        Object.keys(charts).forEach(function (n) { charts[n].resize(); });
        redraw(); // label sizes follow the width (phone or desk)
      }, 120);
    });
    loadMessages($("#region").value.trim().toUpperCase()).then(function () {
      if (token()) refresh();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
