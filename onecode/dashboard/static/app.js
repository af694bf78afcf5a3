// onecode planner dashboard: reads /v1/planner/* with the planner's bearer token and
// draws them with Apache ECharts. No inline script, no eval (CSP 'self').
// A suppressed cell (fewer than k distinct travellers) is drawn as suppressed:
// hatched grey, labelled, and counted on its card; never as zero.
(function () {
  "use strict";

  var TOKEN_KEY = "onecode.planner.token";
  var REGION_KEY = "onecode.planner.region";
  var WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  var MATRIX_ABOVE = 12; // more venues than this: the OD Sankey becomes a matrix heatmap
  var SUP_FILL = "#d5d9df";
  var SUP_EDGE = "#8d949e";
  var HATCH = {
    symbol: "rect", symbolSize: 1, color: "rgba(90, 98, 110, 0.45)",
    dashArrayX: [1, 0], dashArrayY: [2, 4], rotation: -Math.PI / 4
  };
  var charts = {};
  var k = null; // the server's k, when an answer tells it

  function $(sel) { return document.querySelector(sel); }

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
  function kText() { return k ? "<" + k + " travellers" : "<k travellers"; }
  function supLabel() { return "suppressed (" + kText() + ")"; }
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

  function setStatus(text, error) {
    var el = $("#status");
    el.textContent = text;
    el.className = "status" + (error ? " error" : "");
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

  function api(url) {
    return fetch(url, { headers: { Authorization: "Bearer " + token(), Accept: "application/json" } })
      .then(function (resp) {
        return resp.text().then(function (body) {
          if (!resp.ok) throw new Error(problemText(resp, body));
          return JSON.parse(body);
        });
      });
  }

  function downloadCsv(endpoint) {
    var f = filters();
    var url = query(endpoint, f, { format: "csv" });
    fetch(url, { headers: { Authorization: "Bearer " + token(), Accept: "text/csv" } })
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
      .catch(function (err) { setStatus("CSV " + endpoint + ": " + err.message, true); });
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
      .map(function (f) { return f + " ±" + n.ci95[f]; });
    return "Differentially private" + (n.epsilon ? " (ε " + n.epsilon + " per traveller-day)" : "") +
      (parts.length ? ": " + parts.join(", ") + " at 95%" : "") +
      (n.released_through ? "; released through " + n.released_through + "." : "; no day released yet.");
  }

  function finish(name, points, suppressed, note) {
    var el = document.getElementById("chart-" + name);
    el.setAttribute("data-points", String(points));
    el.setAttribute("data-suppressed", String(suppressed));
    el.setAttribute("data-state", "rendered");
    var badge = card(name).querySelector(".sup-count");
    if (suppressed > 0) {
      badge.textContent = suppressed + " suppressed (" + kText() + ")";
      badge.hidden = false;
    } else {
      badge.hidden = true;
    }
    var n = card(name).querySelector(".note");
    n.className = "note";
    n.textContent = note || (points === 0 && suppressed === 0 ? "No data in this range." : "");
  }

  function fail(name, err) {
    var el = document.getElementById("chart-" + name);
    el.setAttribute("data-points", "0");
    el.setAttribute("data-suppressed", "0");
    el.setAttribute("data-state", "error");
    if (charts[name]) charts[name].clear();
    var n = card(name).querySelector(".note");
    n.className = "note error";
    n.textContent = err.message || String(err);
  }

  // grey hatched columns over suppressed categories, each labelled
  function supAreas(categories, axis) {
    return categories.map(function (c) {
      var a = {}, b = {};
      a[axis] = c; b[axis] = c;
      return [a, b];
    });
  }
  function supMarkArea(categories, axis) {
    return {
      silent: false,
      itemStyle: { color: SUP_FILL, opacity: 0.85, borderColor: SUP_EDGE, borderWidth: 1, decal: HATCH },
      label: { show: true, position: axis === "xAxis" ? "insideTop" : "insideRight",
        formatter: "suppressed", color: "#39404a", fontSize: 10,
        rotate: axis === "xAxis" && categories.length > 6 ? 90 : 0 },
      tooltip: { formatter: supLabel() },
      data: supAreas(categories, axis)
    };
  }

  var baseTooltip = { trigger: "axis", renderMode: "richText", confine: true };

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
      tooltip: baseTooltip,
      legend: { data: ["visits", "unique visitors"], top: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 56 },
      xAxis: { type: "category", data: cats, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", minInterval: 1 },
      dataZoom: cats.length > 48 ? [{ type: "inside" }, { type: "slider", height: 16, bottom: 4 }] : [],
      series: [
        { name: "visits", type: "bar", data: visits, itemStyle: { color: "#0b6e4f" },
          markArea: supMarkArea(supCats, "xAxis"),
          tooltip: { valueFormatter: function (v) { return v === null ? "–" : v + pm(d, "visits") + " (95%)"; } } },
        { name: "unique visitors", type: "line", data: visitors, connectNulls: false,
          itemStyle: { color: "#d17b0f" }, symbolSize: 5,
          tooltip: { valueFormatter: function (v) { return v === null ? "–" : v + pm(d, "visitors") + " (95%)"; } } }
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
    chartFor("heatmap").setOption({
      tooltip: { renderMode: "richText", confine: true, formatter: function (p) {
        if (p.seriesIndex === 1) return WEEKDAYS[p.value[1]] + " " + p.value[0] + ":00 — " + supLabel();
        return WEEKDAYS[p.value[1]] + " " + p.value[0] + ":00 — " + p.value[2] + pm(d, "visits") + " visits (95%)";
      } },
      grid: { left: 44, right: 12, top: 10, bottom: 64 },
      xAxis: { type: "category", data: hours, splitArea: { show: true }, name: "hour", nameLocation: "middle", nameGap: 24 },
      yAxis: { type: "category", data: WEEKDAYS, splitArea: { show: true }, inverse: true },
      visualMap: { min: 0, max: Math.max(max, 1), calculable: true, orient: "horizontal", left: "center",
        bottom: 0, itemHeight: 120, itemWidth: 10, seriesIndex: 0,
        inRange: { color: ["#e8f3ee", "#7cc5a1", "#0b6e4f", "#063d2c"] } },
      series: [
        { name: "visits", type: "heatmap", data: values, emphasis: { itemStyle: { borderColor: "#333", borderWidth: 1 } } },
        { name: "suppressed", type: "heatmap", data: sup,
          itemStyle: { color: SUP_FILL, borderColor: SUP_EDGE, borderWidth: 0.5, decal: HATCH },
          label: { show: sup.length <= 40, formatter: "s", color: "#39404a", fontSize: 9 } }
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
          return label + ": " + (p.seriesIndex === 1 ? supLabel() : p.value[2] + " trips");
        } },
        grid: { left: 150, right: 16, top: 10, bottom: 120 },
        xAxis: { type: "category", data: venueList, name: "to", axisLabel: { rotate: 45, width: 110, overflow: "truncate" } },
        yAxis: { type: "category", data: venueList, name: "from", inverse: true, axisLabel: { width: 140, overflow: "truncate" } },
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
      chart.setOption({
        tooltip: { trigger: "item", renderMode: "richText", confine: true, formatter: function (p) {
          if (p.dataType !== "edge") return p.name;
          var label = p.data.source.replace(/ ›$/, "") + " → " + p.data.target.replace(/^› /, "");
          return label + ": " + (p.data.suppressed ? supLabel() : p.data.value + " trips");
        } },
        series: [{
          type: "sankey", data: data, links: sankeyLinks, nodeAlign: "justify", nodeGap: 8,
          left: 8, right: 8, top: 8, bottom: 8, draggable: false,
          label: { fontSize: 11, overflow: "truncate", width: 140 },
          lineStyle: { color: "gradient", curveness: 0.5, opacity: 0.45 },
          emphasis: { focus: "adjacency" },
          edgeLabel: { show: true, fontSize: 9, color: "#39404a",
            formatter: function (p) { return p.data.suppressed && labelSup ? "suppressed" : ""; } }
        }]
      }, true);
    }
    finish("od", shown.length, sup.length,
      (venueList.length > MATRIX_ABOVE ? "Matrix view: rows are origins, columns destinations. " : "") +
      noiseNote(d, ["trips"]));
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
    var top = Math.max(cap || 0, max) * 1.05 || 10;
    var series = [{
      name: "inside", type: "line", data: inside, step: false, symbolSize: 3, connectNulls: false,
      itemStyle: { color: "#0b6e4f" }, areaStyle: { opacity: 0.15 }, z: 3
    }, {
      name: supLabel(), type: "bar", barWidth: "70%", z: 1,
      data: inside.map(function (v, i) { return supCats.indexOf(cats[i]) >= 0 ? Math.ceil(top) : null; }),
      itemStyle: { color: SUP_FILL, borderColor: SUP_EDGE, borderWidth: 1, decal: HATCH },
      label: { show: true, position: "inside", rotate: 90, formatter: "suppressed", color: "#39404a", fontSize: 9 },
      tooltip: { formatter: supLabel() }
    }];
    if (cap) {
      var band = function (lo, hi, color, name) {
        return [{ yAxis: lo * cap, itemStyle: { color: color, opacity: 0.22 }, name: name }, { yAxis: hi * cap }];
      };
      series.push({
        name: "levels", type: "line", data: [], silent: true,
        markArea: { silent: true, label: { show: true, position: "insideRight", fontSize: 10, color: "#5b6472" },
          data: [band(y80, y90, "#e6c300", "≥" + Math.round(y80 * 100) + "%"),
            band(y90, y95, "#f08a00", "≥" + Math.round(y90 * 100) + "%"),
            band(y95, Math.max(1, top / cap), "#d62d20", "≥" + Math.round(y95 * 100) + "%")] },
        markLine: { silent: true, symbol: "none", lineStyle: { type: "dashed", color: "#7a828e" },
          label: { formatter: "{b}", position: "insideEndTop", fontSize: 10 },
          data: [{ yAxis: cap, name: "capacity " + cap }] }
      });
    }
    var levels = cap ? { show: false, seriesIndex: 0, dimension: 1, pieces: [
      { lt: y80 * cap, color: "#0b6e4f" }, { gte: y80 * cap, lt: y90 * cap, color: "#c9a400" },
      { gte: y90 * cap, lt: y95 * cap, color: "#f08a00" }, { gte: y95 * cap, color: "#d62d20" }] } : [];
    chartFor("occupancy").setOption({
      visualMap: levels,
      tooltip: { trigger: "axis", renderMode: "richText", confine: true, formatter: function (ps) {
        var i = ps[0].dataIndex;
        var v = supCats.indexOf(cats[i]) >= 0 ? supLabel() : byLevel ? "crowd level " + lv[i] :
          inside[i] + " inside" + (cap ? " (" + Math.round(100 * inside[i] / cap) + "% of " + cap + ")" : "");
        return cats[i] + "  " + v;
      } },
      grid: { left: 48, right: 16, top: 16, bottom: 40 },
      xAxis: { type: "category", data: cats, boundaryGap: true, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", max: Math.ceil(top), minInterval: 1 },
      series: series
    }, true);
    finish("occupancy", points, supCats.length, d.name + ", " + d.date + " (" + d.timezone + "): " +
      (byLevel ? "crowd level at the end of each hour (levels, not counts); arrivals" + pm(d, "entries") + " at 95%" : "people inside at the end of each hour") +
      (d.peak_inside !== null && d.peak_inside !== undefined ? "; peak " + d.peak_inside + " at " + fmtHour(d.peak_hour) : "") + ".");
  }

  // 5. visitor origins: home regions, largest first
  function drawOrigins(d) {
    noteK(d);
    var shown = [], supNames = [];
    rowsOf(d).forEach(function (r) {
      var name = r.home_region, v = r.visitors;
      if (isSuppressed(r, v)) supNames.push(String(name)); else shown.push([String(name), v]);
    });
    shown.sort(function (a, b) { return a[1] - b[1]; });
    var cats = supNames.sort().concat(shown.map(function (e) { return e[0]; }));
    var vals = supNames.map(function () { return null; }).concat(shown.map(function (e) { return e[1]; }));
    chartFor("origins").setOption({
      tooltip: baseTooltip,
      grid: { left: 72, right: 24, top: 8, bottom: 28 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: cats },
      series: [{ name: "visitors", type: "bar", data: vals, itemStyle: { color: "#2f6db3" }, barMaxWidth: 28,
        label: { show: true, position: "right", fontSize: 10 },
        markArea: supMarkArea(supNames, "yAxis") }]
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
    chartFor("bookings").setOption({
      tooltip: baseTooltip,
      grid: { left: 150, right: 40, top: 8, bottom: 28 },
      xAxis: { type: "value", name: "%", max: function (v) { return Math.max(10, Math.ceil(v.max / 10) * 10); } },
      yAxis: { type: "category", data: cats, axisLabel: { width: 140, overflow: "truncate" } },
      graphic: cats.length ? [] : [{ type: "text", left: "center", top: "middle",
        style: { text: "No booked slot has ended in this range yet.", fill: "#5b6472", fontSize: 13 } }],
      series: [{ name: "no-show rate %", type: "bar", data: vals, itemStyle: { color: "#a33b5b" }, barMaxWidth: 28,
        label: { show: true, position: "right", fontSize: 10, formatter: "{c}%" },
        markArea: supMarkArea(supNames, "yAxis") }]
    }, true);
    var overall = d.no_show_rate;
    finish("bookings", shown.length, supNames.length,
      (typeof overall === "number" ? "Overall no-show rate " + Math.round(overall * 1000) / 10 + "%. " : "") +
      (empty ? empty + " venue(s) with no ended booked slot yet." : ""));
  }

  var DRAW = {
    arrivals: drawArrivals, heatmap: drawHeatmap, od: drawOd,
    occupancy: drawOccupancy, origins: drawOrigins, bookings: drawBookings
  };

  function loadChart(name, f) {
    if (name === "occupancy" && !f.venue) {
      finish("occupancy", 0, 0, "No venue in this region.");
      return Promise.resolve();
    }
    var el = document.getElementById("chart-" + name);
    el.setAttribute("data-state", "loading");
    return api(query(name, f)).then(DRAW[name]).catch(function (err) { fail(name, err); });
  }

  function loadVenues(region) {
    return fetch("/v1/venues?region=" + encodeURIComponent(region), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (venues) {
        var sel = $("#venue"), keep = sel.value;
        sel.textContent = "";
        (Array.isArray(venues) ? venues : rowsOf(venues)).forEach(function (v) {
          var o = document.createElement("option");
          o.value = v.id;
          o.textContent = v.name + (v.gated ? "" : " (ungated)");
          sel.appendChild(o);
        });
        if (keep && sel.querySelector('option[value="' + keep + '"]')) sel.value = keep;
        else {
          var gated = (Array.isArray(venues) ? venues : []).filter(function (v) { return v.gated; })[0];
          if (gated) sel.value = gated.id;
        }
      })
      .catch(function () { /* the occupancy card says so */ });
  }

  // ---------- crowd levels and alerts (GET /v1/alerts) ----------

  var ALERT_TEXT = {
    "venue.level_changed": function (d) {
      return (d.kind === "daily" ? "daily entries " : "inside now ") + d.previous_level + " → " + d.level;
    },
    "venue.capacity_forecast_reached": function (d) {
      return "bookings for " + d.local_day + " reached " + d.level + " (" + d.load_pct + "% of the day)";
    },
    "gate.offline": function (d) { return "gate " + d.gate_name + " silent since " + d.last_seen_at; }
  };

  function chip(level) {
    var s = document.createElement("span");
    s.className = "level " + level;
    s.textContent = level;
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
      li.appendChild(document.createTextNode(v.name + (v.daily && v.daily !== "green" ? " (today: " + v.daily + ")" : "")));
      levels.appendChild(li);
    });
    (d.recent || []).forEach(function (a) {
      var li = document.createElement("li"), t = document.createElement("time");
      t.dateTime = a.created_at;
      t.textContent = a.created_at.slice(5, 16).replace("T", " ");
      li.appendChild(t);
      if (a.data && a.data.level) li.appendChild(chip(a.data.level));
      var text = (ALERT_TEXT[a.type] || function () { return a.type; })(a.data || {});
      li.appendChild(document.createTextNode((a.venue_name ? a.venue_name + ": " : "") + text));
      recent.appendChild(li);
    });
    var note = card("alerts").querySelector(".note");
    note.className = "note";
    note.textContent = Object.keys(byVenue).length + " venue(s) with a level, " +
      (d.recent || []).length + " recent alert(s).";
  }

  function loadAlerts(f) {
    return api("/v1/alerts?region=" + encodeURIComponent(f.region) + "&limit=20").then(drawAlerts)
      .catch(function (err) {
        var note = card("alerts").querySelector(".note");
        note.className = "note error";
        note.textContent = err.message;
      });
  }

  var lastRegion = null;
  function refresh() {
    if (!token()) { setStatus("Paste a planner token to begin.", true); return; }
    var f = filters();
    if (!f.region || !f.from || !f.to) { setStatus("Region and dates are needed.", true); return; }
    if (f.from > f.to) { setStatus("'From' is after 'To'.", true); return; }
    sessionStorage.setItem(REGION_KEY, f.region);
    setStatus("Loading " + f.region + " " + f.from + " … " + f.to + " …");
    document.body.setAttribute("data-loaded", "0");
    var venues = lastRegion === f.region ? Promise.resolve() : loadVenues(f.region);
    lastRegion = f.region;
    venues.then(function () {
      f = filters();
      var loads = Object.keys(DRAW).map(function (n) { return loadChart(n, f); });
      return Promise.all(loads.concat([loadAlerts(f)]));
    }).then(function () {
      var errors = document.querySelectorAll('.chart[data-state="error"]').length;
      setStatus(errors ? errors + " chart(s) could not load: see their notes." :
        "Showing " + f.region + ", " + f.from + " to " + f.to + ".", errors > 0);
      document.body.setAttribute("data-loaded", "1");
    });
  }

  function init() {
    var to = today();
    var weekAgo = new Date(new Date(to + "T12:00:00Z").getTime() - 6 * 86400000);
    $("#to").value = to;
    $("#from").value = weekAgo.toISOString().slice(0, 10);
    $("#day").value = to;
    var region = sessionStorage.getItem(REGION_KEY);
    if (region) $("#region").value = region;
    if (token()) $("#token").placeholder = "token saved for this tab";

    $("#token-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var t = $("#token").value.trim();
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      $("#token").value = "";
      $("#token").placeholder = "token saved for this tab";
      refresh();
    });
    $("#forget").addEventListener("click", function () {
      sessionStorage.removeItem(TOKEN_KEY);
      $("#token").placeholder = "oc_planner_…";
      setStatus("Token forgotten.");
    });
    $("#filters").addEventListener("submit", function (ev) { ev.preventDefault(); refresh(); });
    $("#region").addEventListener("change", function () { lastRegion = null; });
    var buttons = document.querySelectorAll("button.csv");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (ev) { downloadCsv(ev.currentTarget.getAttribute("data-endpoint")); });
    }
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        Object.keys(charts).forEach(function (n) { charts[n].resize(); });
      }, 120);
    });
    if (token()) refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
