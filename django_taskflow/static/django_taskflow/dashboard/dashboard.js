// The dashboard's live side: follows /ws/taskflow/ and changes rows in place.
// Frames are written into the page as text (textContent, .value), never as
// HTML; new rows come from the server's own escaped template (rows.html).
(function () {
  "use strict";

  const body = document.body;
  const rowsUrl = body.dataset.rowsUrl;
  const rowLimit = Number(body.dataset.rowLimit) || 50;
  const rowsElement = () => document.getElementById("task-rows");
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
  let chart = null;
  let socket = null;
  let retryDelay = 1000;
  const unknown = new Set();
  // The last frame of each task: a row the server rendered while a frame was
  // on its way is brought up to date with it (frames arrive in order, so the
  // last one is the newest the page knows).
  const lastFrames = new Map();
  const MAX_REMEMBERED = 2000;
  let fetchTimer = null;

  function showNotice(text, isError) {
    const notice = document.getElementById("notice");
    notice.textContent = text;
    notice.classList.toggle("error", Boolean(isError));
    notice.hidden = false;
    window.clearTimeout(showNotice.timer);
    showNotice.timer = window.setTimeout(() => { notice.hidden = true; }, 8000);
  }

  function setConnection(state, text) {
    const element = document.getElementById("connection");
    element.dataset.state = state;
    element.textContent = text;
  }

  function applyFrame(row, frame) {
    const changed = row.dataset.status !== frame.status;
    row.dataset.status = frame.status;
    row.querySelector(".status").textContent = frame.status;
    const bar = row.querySelector("progress");
    const percent = row.querySelector(".percent");
    if (typeof frame.progress === "number") {
      bar.value = frame.progress;
      bar.removeAttribute("data-empty");
      percent.textContent = Math.round(frame.progress * 100) + "%";
    } else if (frame.event === "started" || frame.event === "requeued" || frame.event === "retried") {
      bar.value = 0;
      bar.setAttribute("data-empty", "");
      percent.textContent = "";
    }
    if (frame.event === "progress" || frame.event === "current") {
      row.querySelector(".message").textContent = frame.message == null ? "" : String(frame.message);
    } else if (frame.event === "started") {
      row.querySelector(".message").textContent = "";
    }
    return changed;
  }

  // A service's event: its row's state, owner and latest event change in
  // place; a service the card does not show has the card re-read.
  function onServiceFrame(frame) {
    const row = Array.from(document.querySelectorAll("#services tr.service"))
      .find((candidate) => candidate.dataset.service === frame.service);
    if (!row) { htmx.trigger(body, "taskflow:services"); return; }
    row.dataset.state = String(frame.state);
    row.querySelector(".state").textContent = String(frame.state);
    row.querySelector(".owner").textContent = frame.owner ? String(frame.owner) : "–";
    const data = frame.data && Object.keys(frame.data).length ? " " + JSON.stringify(frame.data) : "";
    row.querySelector(".last-event").textContent = String(frame.event) + data;
  }

  function onFrame(frame) {
    if (frame.type === "service" && typeof frame.service === "string") { onServiceFrame(frame); return; }
    if (frame.type !== "task" || typeof frame.task !== "string") return;
    lastFrames.delete(frame.task);
    lastFrames.set(frame.task, frame);
    if (lastFrames.size > MAX_REMEMBERED) lastFrames.delete(lastFrames.keys().next().value);
    const row = document.getElementById("task-" + frame.task);
    if (row) {
      if (applyFrame(row, frame)) htmx.trigger(body, "taskflow:changed");
    } else {
      unknown.add(frame.task);
      if (fetchTimer === null) fetchTimer = window.setTimeout(fetchUnknown, 300);
      htmx.trigger(body, "taskflow:changed");
    }
  }

  // Tasks the table does not show yet: ask the server for their rows, under
  // the same filter as the table, and put them on top.
  function fetchUnknown() {
    fetchTimer = null;
    const ids = Array.from(unknown).filter((id) => !document.getElementById("task-" + id));
    unknown.clear();
    if (!ids.length) return;
    const params = new URLSearchParams();
    params.set("q", document.getElementById("filter").value);
    ids.slice(0, rowLimit).forEach((id) => params.append("id", id));
    htmx.ajax("GET", rowsUrl + "?" + params.toString(), { target: "#task-rows", swap: "afterbegin" })
      .then(trimRows);
  }

  // Keep the table at its size: drop the oldest finished rows, and duplicates
  // a late fetch may have brought.
  function trimRows() {
    const seen = new Set();
    const rows = Array.from(rowsElement().querySelectorAll("tr.task"));
    rows.forEach((row) => {
      if (seen.has(row.id)) row.remove(); else seen.add(row.id);
    });
    rowsElement().querySelectorAll("tr.empty").forEach((row) => {
      if (seen.size) row.remove();
    });
    const kept = Array.from(rowsElement().querySelectorAll("tr.task"));
    for (let index = kept.length - 1; index >= 0 && kept.length > rowLimit * 2; index--) {
      if (FINISHED.has(kept[index].dataset.status)) { kept[index].remove(); kept.splice(index, 1); }
    }
  }

  function reconcileRows() {
    rowsElement().querySelectorAll("tr.task").forEach((row) => {
      const frame = lastFrames.get(row.dataset.task);
      if (frame) applyFrame(row, frame);
    });
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(scheme + "://" + window.location.host + body.dataset.socketPath);
    socket.onopen = () => {
      retryDelay = 1000;
      socket.send(JSON.stringify({ type: "subscribe", all: true }));
      if (body.dataset.services) socket.send(JSON.stringify({ type: "subscribe", services: true }));
      const shown = Array.from(rowsElement().querySelectorAll("tr.task")).map((row) => row.dataset.task);
      // The rows' state now, in case something changed while the page loaded.
      if (shown.length) socket.send(JSON.stringify({ type: "subscribe", tasks: shown.slice(0, 500) }));
      setConnection("live", "live");
    };
    socket.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (error) { return; }
      if (frame.type === "error") { showNotice(String(frame.message), true); return; }
      onFrame(frame);
    };
    socket.onclose = () => {
      setConnection("down", "reconnecting…");
      window.setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    };
  }

  function chartSize(element) {
    return { width: Math.max(element.clientWidth, 200), height: element.clientWidth < 500 ? 150 : 170 };
  }

  function chartData() {
    const source = document.getElementById("throughput-data");
    const figures = source ? JSON.parse(source.textContent) : { minutes: [] };
    return [figures.minutes, figures.succeeded || [], figures.failed || [], figures.cancelled || []];
  }

  function drawChart() {
    const element = document.getElementById("throughput-chart");
    if (!element || typeof uPlot === "undefined") return;
    const series = (label, stroke, fill) => ({ label: label, stroke: stroke, fill: fill, width: 2, points: { show: false } });
    chart = new uPlot({
      ...chartSize(element),
      scales: { y: { range: (u, min, max) => [0, Math.max(max, 1)] } },
      axes: [{}, { label: "tasks" }],
      series: [
        {},
        series("succeeded", "#2f855a", "rgba(47,133,90,0.12)"),
        series("failed", "#c53030", "rgba(197,48,48,0.12)"),
        series("cancelled", "#718096", "rgba(113,128,150,0.12)"),
      ],
    }, chartData(), element);
    window.addEventListener("resize", () => chart.setSize(chartSize(element)));
  }

  document.addEventListener("DOMContentLoaded", () => {
    drawChart();
    connect();
    body.addEventListener("htmx:afterSettle", (event) => {
      if (event.target && event.target.id === "summary" && chart) chart.setData(chartData());
      if (rowsElement().contains(event.target) || event.target === rowsElement()) reconcileRows();
    });
    body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.requestConfig && event.detail.requestConfig.verb === "post") {
        htmx.trigger(body, "taskflow:changed");
        showNotice("Done.", false);
      }
    });
    body.addEventListener("htmx:responseError", (event) => {
      showNotice(event.detail.xhr.responseText || "The server refused.", true);
    });
    // A button clicked in the instant between a row's arrival and htmx
    // binding its form would post the plain form and reload the page: post
    // it through htmx instead.
    document.addEventListener("submit", (event) => {
      const form = event.target;
      if (event.defaultPrevented || !form.hasAttribute || !form.hasAttribute("hx-post")) return;
      event.preventDefault();
      htmx.process(form);
      htmx.trigger(form, "submit");
    });
    body.addEventListener("htmx:sendError", () => showNotice("The server does not answer.", true));
  });
})();
