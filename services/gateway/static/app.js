// The Jarvis web page: sign in with a token, chats on the side, the conversation, and a live
// card for each running task (its plan ticking off, progress lines, cancel, the answer).
// Live events come over the WebSocket; every event carries a per-task seq, so after a
// reconnect the page asks for what it missed and drops anything it has already shown.
"use strict";

const FINAL = new Set(["task.succeeded", "task.failed", "task.cancelled"]);
const TOKEN_KEY = "jarvis.token";

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  chatId: null,
  tasks: new Map(), // task id -> { seq, card, steps: [] }
  ws: null,
  retryDelay: 1000,
};

const $ = (selector) => document.querySelector(selector);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
};

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: {
      Authorization: `Bearer ${state.token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error ? data.error.message : `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// --- signing in -----------------------------------------------------------------------------

async function start() {
  if (!state.token) return showSignIn();
  try {
    const me = await api("GET", "/v1/me");
    $("#me").textContent = me.name;
  } catch (error) {
    if (error.status === 401) return showSignIn("That token is not valid.");
    throw error;
  }
  $("#signin").hidden = true;
  $("#app").hidden = false;
  await loadChats();
  connect();
}

function showSignIn(message = "") {
  $("#app").hidden = true;
  $("#signin").hidden = false;
  $("#signin-error").textContent = message;
}

$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("#token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  start();
});

$("#signout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

$("#toggle-sidebar").addEventListener("click", () => $("#sidebar").classList.toggle("open"));

// --- chats ----------------------------------------------------------------------------------

async function loadChats() {
  const { chats } = await api("GET", "/v1/chats?limit=100");
  const list = $("#chats");
  list.replaceChildren();
  for (const chat of chats) {
    const item = el("li", {}, el("button", { type: "button", "data-chat": chat.id, text: chat.title || "Untitled chat" }));
    item.firstChild.addEventListener("click", () => openChat(chat));
    if (chat.id === state.chatId) item.classList.add("active");
    list.append(item);
  }
  if (!state.chatId && chats.length) await openChat(chats[0]);
}

$("#new-chat").addEventListener("click", async () => {
  const chat = await api("POST", "/v1/chats", { title: `Chat ${new Date().toLocaleString()}` });
  state.chatId = null;
  await openChat(chat);
  await loadChats();
});

async function openChat(chat) {
  if (state.chatId && state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify({ type: "unsubscribe", chat_id: state.chatId }));
  }
  state.chatId = chat.id;
  state.tasks.clear();
  $("#chat-title").textContent = chat.title || "Untitled chat";
  $("#sidebar").classList.remove("open");
  for (const item of document.querySelectorAll("#chats li")) {
    item.classList.toggle("active", item.firstChild.dataset.chat === chat.id);
  }
  const conversation = $("#conversation");
  conversation.replaceChildren();
  const { messages } = await api("GET", `/v1/chats/${chat.id}/messages?limit=200`);
  const { tasks } = await api("GET", `/v1/chats/${chat.id}/tasks?limit=20`);
  const running = new Set(tasks.filter((t) => !["succeeded", "failed", "cancelled"].includes(t.status)).map((t) => t.id));
  for (const message of messages) {
    conversation.append(messageBubble(message.role, message.content, message.task_id));
    if (message.role === "user" && running.has(message.task_id)) {
      await followTask(message.task_id);
    }
  }
  subscribe();
  scrollDown();
}

function messageBubble(role, content, taskId) {
  const bubble = el("div", { class: `message ${role}`, "data-role": role });
  if (taskId) bubble.dataset.task = taskId;
  if (role === "assistant") bubble.innerHTML = Markdown.render(content);
  else bubble.textContent = content;
  return bubble;
}

function scrollDown() {
  const conversation = $("#conversation");
  conversation.scrollTop = conversation.scrollHeight;
}

// --- sending --------------------------------------------------------------------------------

$("#composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#message");
  const content = input.value.trim();
  if (!content) return;
  if (!state.chatId) {
    const chat = await api("POST", "/v1/chats", { title: content.slice(0, 60) });
    await openChat(chat);
    await loadChats();
  }
  input.value = "";
  const key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random());
  const response = await fetch(`/v1/chats/${state.chatId}/messages`, {
    method: "POST",
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json", "Idempotency-Key": key },
    body: JSON.stringify({ content }),
  });
  const submitted = await response.json();
  if (!response.ok) {
    input.value = content;
    alert(submitted.error ? submitted.error.message : "Could not send the message");
    return;
  }
  ensureTask(submitted.task_id, content);
  scrollDown();
});

$("#message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("#composer").requestSubmit();
  }
});

// --- task cards -----------------------------------------------------------------------------

function ensureTask(taskId, content) {
  let task = state.tasks.get(taskId);
  if (task) return task;
  const conversation = $("#conversation");
  let bubble = conversation.querySelector(`.message.user[data-task="${taskId}"]`);
  if (!bubble && content !== undefined) {
    bubble = messageBubble("user", content, taskId);
    conversation.append(bubble);
  }
  const cancel = el("button", { type: "button", class: "cancel", text: "Cancel" });
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    await api("POST", `/v1/tasks/${taskId}/cancel`);
  });
  const card = el(
    "section",
    { class: "task", "data-task": taskId, "data-status": "queued" },
    el("header", {}, el("span", { class: "status", text: "Queued" }), cancel),
    el("p", { class: "goal" }),
    el("ol", { class: "steps" }),
    el("div", { class: "answer" }),
  );
  if (bubble) bubble.after(card);
  else conversation.append(card);
  task = { seq: 0, card, steps: [] };
  state.tasks.set(taskId, task);
  return task;
}

async function followTask(taskId) {
  const task = ensureTask(taskId);
  const { events } = await api("GET", `/v1/tasks/${taskId}/events?after_seq=${task.seq}`);
  for (const event of events) applyEvent(event);
}

function setStatus(task, status, text) {
  task.card.dataset.status = status;
  task.card.querySelector(".status").textContent = text;
}

function applyEvent(event) {
  if (event.chat_id !== state.chatId) return;
  const task = ensureTask(event.task_id, event.type === "task.created" ? event.data.content : undefined);
  if (event.seq <= task.seq) return; // already shown
  task.seq = event.seq;
  const data = event.data || {};
  switch (event.type) {
    case "task.queued":
      setStatus(task, "queued", "Queued");
      break;
    case "triage.completed":
      setStatus(task, "running", data.actionable ? "Planning…" : "Replying…");
      break;
    case "plan.created":
      task.card.querySelector(".goal").textContent = data.goal || "";
      task.steps = (data.steps || []).map((step, index) => {
        const item = el("li", { class: "step", "data-step": String(index), "data-state": "pending" },
          el("span", { class: "title", text: step.title }), el("ul", { class: "progress" }));
        task.card.querySelector(".steps").append(item);
        return item;
      });
      break;
    case "task.started":
      setStatus(task, "running", "Working…");
      break;
    case "step.started":
    case "step.completed":
    case "step.failed": {
      const item = task.steps[data.step];
      if (item) item.dataset.state = { "step.started": "running", "step.completed": "done", "step.failed": "failed" }[event.type];
      break;
    }
    case "progress": {
      const item = task.steps[data.step];
      if (item) item.querySelector(".progress").append(el("li", { text: data.message }));
      break;
    }
    case "task.retrying":
      setStatus(task, "running", `Retrying${data.tool ? " " + data.tool : ""} (try ${data.attempt})…`);
      break;
    case "task.cancel_requested":
      setStatus(task, "cancelling", "Cancelling…");
      break;
    case "message.created":
      task.card.querySelector(".answer").innerHTML = Markdown.render(data.content);
      break;
    default:
      if (FINAL.has(event.type)) finishTask(event.task_id, task, event);
  }
  scrollDown();
}

async function finishTask(taskId, task, event) {
  const labels = { "task.succeeded": "Done", "task.failed": "Failed", "task.cancelled": "Cancelled" };
  setStatus(task, event.type.replace("task.", ""), labels[event.type]);
  task.card.querySelector(".cancel").remove();
  const data = event.data || {};
  if (data.error && data.error.message) {
    task.card.querySelector(".answer").append(el("p", { class: "error", text: data.error.message }));
  }
  if (event.type === "task.cancelled") {
    const done = (data.completed_steps || []).length;
    task.card.querySelector(".answer").append(el("p", { class: "note", text: `Stopped after ${done} finished step(s).` }));
  }
  const full = await api("GET", `/v1/tasks/${taskId}`);
  // Sources the answer does not already cite, as links.
  const answer = (full.result && full.result.answer) || "";
  const sources = ((full.result && full.result.sources) || []).filter((s) => !answer.includes(s.url));
  if (sources.length) {
    const list = el("ul", { class: "sources" });
    for (const source of sources) {
      const url = Markdown.safeUrl(source.url);
      const item = url
        ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: source.title || url })
        : el("span", { text: source.title || source.url });
      list.append(el("li", {}, item));
    }
    task.card.querySelector(".answer").append(el("h4", { text: "Sources" }), list);
  }
}

// --- the live connection --------------------------------------------------------------------

function subscribe() {
  if (!state.chatId || !state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  const since = {};
  for (const [taskId, task] of state.tasks) since[taskId] = task.seq;
  state.ws.send(JSON.stringify({ type: "subscribe", chat_id: state.chatId, since }));
}

async function connect() {
  const indicator = $("#connection");
  try {
    const { ticket } = await api("POST", "/v1/ws-tickets");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/v1/ws?ticket=${encodeURIComponent(ticket)}`);
    state.ws = ws;
    ws.addEventListener("open", () => {
      state.retryDelay = 1000;
      indicator.classList.add("live");
      subscribe();
    });
    ws.addEventListener("message", (message) => {
      const body = JSON.parse(message.data);
      if (body.type === "event") applyEvent(body.event);
    });
    ws.addEventListener("close", () => {
      indicator.classList.remove("live");
      setTimeout(connect, state.retryDelay);
      state.retryDelay = Math.min(state.retryDelay * 2, 15000);
    });
  } catch (error) {
    indicator.classList.remove("live");
    if (error.status === 401) return showSignIn("Your token is no longer valid.");
    setTimeout(connect, state.retryDelay);
    state.retryDelay = Math.min(state.retryDelay * 2, 15000);
  }
}

start();
