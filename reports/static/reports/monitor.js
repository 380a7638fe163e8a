// The live monitor (PROTOCOL.md "Live monitor"): draws each `monitor` snapshot the socket /ws/monitor/
// pushes, and counts the waits every second itself (no polling); a wait past 3 minutes is red.
(function () {
  "use strict";
  var SLOW = 180;
  var root = document.getElementById("monitor");
  if (!root) return;
  var strings = JSON.parse(document.getElementById("monitor-strings").textContent);
  var state = document.getElementById("monitor-state");
  var snapshot = null, skew = 0, delay = 1000;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function since(iso) {
    if (!iso) return null;
    return Math.max(0, Math.floor((Date.now() - skew - Date.parse(iso)) / 1000));
  }
  function show(td) {
    var s = since(td.dataset.since);
    td.textContent = s < 60 ? strings.seconds.replace("%(s)s", s)
      : strings.minutes.replace("%(m)s", Math.floor(s / 60)).replace("%(s)s", s % 60);
    td.classList.toggle("short", s > SLOW);
  }
  function wait(iso) {
    var td = el("td", null, "num wait");
    if (!iso) { td.textContent = strings.none; return td; }
    td.dataset.since = iso;
    show(td);
    return td;
  }
  function tick() {
    document.querySelectorAll("#monitor td.wait[data-since]").forEach(show);
  }
  function draw() {
    if (!snapshot) return;
    var q = document.querySelector("#queue-table tbody"), a = document.querySelector("#agent-monitor tbody");
    q.replaceChildren(); a.replaceChildren();
    snapshot.groups.forEach(function (g) {
      var tr = el("tr");
      tr.append(el("th", g.name), el("td", String(g.queued), "num"), wait(g.longest_since));
      q.append(tr);
    });
    snapshot.agents.forEach(function (ag) {
      var tr = el("tr"), chats = el("td");
      tr.dataset.agent = ag.id;
      ag.chats.forEach(function (c) {
        var link = el("a", c.buyer);
        link.href = root.dataset.sessionUrl + c.id + "/";
        chats.append(link, document.createTextNode(" "));
      });
      tr.append(el("th", ag.name), el("td", ag.status_label, "status-" + ag.status),
        el("td", ag.load + " / " + ag.limit, "num"), wait(ag.oldest_waiting_since), chats);
      a.append(tr);
    });
    var t = snapshot.today;
    document.getElementById("today-consultations").textContent = String(t.consultations);
    document.getElementById("today-rate").textContent =
      t.response_rate_3m === null ? "—" : (t.response_rate_3m * 100).toFixed(1) + "%";
  }
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/ws/monitor/?shop=" + root.dataset.shop);
    ws.onopen = function () { state.textContent = strings.connected; delay = 1000; };
    ws.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type !== "monitor") return;
      snapshot = frame;
      skew = Date.now() - Date.parse(frame.now);
      root.dataset.updated = frame.now;
      draw();
    };
    ws.onclose = function () {
      state.textContent = strings.lost;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  setInterval(tick, 1000);
  connect();
})();
