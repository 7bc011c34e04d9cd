// The chat page: the logon form, one window per room and per private
// conversation, members, history.  Everything other people wrote is put on
// the page as text (textContent), never as HTML.

import {ChatConnection, Code} from "./connection.js";

const COLORS = ["default", "red", "green", "yellow", "blue", "magenta", "cyan", "white", "bright-red",
  "bright-green", "bright-yellow", "bright-blue", "bright-magenta", "bright-cyan"];
const NICK_COLORS = 16;
const OLDER_PAGE = 50;
const MAX_LINES = 2000;   // per window, live lines kept on the page

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fold(name) { return name.normalize("NFKC").toLowerCase(); }

function nickClass(nick) {
  let hash = 0;
  for (const ch of fold(nick)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `nick-${hash % NICK_COLORS}`;
}

function clock(ts) {
  const when = ts ? new Date(ts) : new Date();
  return when.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

// -- windows ------------------------------------------------------------------

class Window {
  constructor(key, kind, name) {
    this.key = key;             // "#" + folded room, or "@" + folded nick
    this.kind = kind;           // "room" or "private"
    this.name = name;
    this.pane = el("div", "pane");
    this.pane.hidden = true;
    this.ids = new Set();       // message ids shown (a reconnection's pages overlap)
    this.members = [];
    this.away = new Map();      // folded nick -> away message, of the members who are away
    this.listing = null;        // a member list arriving in several frames
    this.awayListing = null;
    this.topic = "";
    this.unread = 0;
    this.mentioned = false;
    this.more = false;          // older messages exist on the server
    this.loadingOlder = false;
    this.oldest = null;
    this.joined = kind === "private";
  }
}

const windows = new Map();
let order = [];
let current = null;
const chat = new ChatConnection(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);

function windowFor(kind, name) {
  const key = (kind === "room" ? "#" : "@") + fold(name);
  let win = windows.get(key);
  if (!win) {
    win = new Window(key, kind, name);
    windows.set(key, win);
    order.push(key);
    $("log").append(win.pane);
    if (!current) show(win);
    drawWindows();
  }
  return win;
}

function show(win) {
  if (current) current.pane.hidden = true;
  current = win;
  win.pane.hidden = false;
  win.unread = 0;
  win.mentioned = false;
  drawWindows();
  drawMembers();
  drawTopic();
  scrollToEnd(win);
  document.body.classList.remove("show-windows", "show-members");
  $("say").focus();
}

function closeWindow(win) {
  windows.delete(win.key);
  order = order.filter((k) => k !== win.key);
  win.pane.remove();
  if (current === win) {
    current = null;
    const next = windows.get(order[order.length - 1]);
    if (next) show(next);
  }
  drawWindows();
}

function drawWindows() {
  const list = $("window-list");
  list.replaceChildren();
  order.forEach((key, i) => {
    const win = windows.get(key);
    const item = el("li");
    const button = el("button", "window" + (win === current ? " current" : "") + (win.mentioned ? " mentioned" : ""));
    button.type = "button";
    button.append(el("span", "window-number", `${i + 1}`), el("span", "window-name",
      win.kind === "room" ? win.name : `@${win.name}`));
    if (win.unread) button.append(el("span", "unread", `${win.unread}`));
    if (win === current) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => show(win));
    item.append(button);
    list.append(item);
  });
  const unread = [...windows.values()].reduce((n, w) => n + w.unread, 0);
  const mentioned = [...windows.values()].some((w) => w.mentioned);
  document.title = (unread ? `(${unread}) ` : "") + (current ? `${current.name} · chat` : "chat");
  // The phone's menu button and the tab's icon say that something waits, and whether it is for me.
  const menu = $("show-windows");
  menu.dataset.unread = unread ? `${unread}` : "";
  menu.classList.toggle("mentioned", mentioned);
  menu.setAttribute("aria-label", unread ? `Rooms and conversations: ${unread} unread` : "Rooms and conversations");
  const icon = document.querySelector('link[rel="icon"]');
  const wanted = unread ? "favicon-unread.svg" : "favicon.svg";
  if (icon && !icon.href.endsWith(wanted)) icon.href = wanted;
}

function drawMembers() {
  const list = $("member-list");
  list.replaceChildren();
  const win = current;
  $("members-title").textContent = win && win.kind === "room" ? `${win.members.length} in ${win.name}` : "";
  if (!win || win.kind !== "room") return;
  for (const nick of win.members) {
    const item = el("li");
    const away = win.away.get(fold(nick));
    const button = el("button", `member ${nickClass(nick)}${away !== undefined ? " away" : ""}`, nick);
    button.type = "button";
    button.title = away !== undefined ? `${nick} is away${away ? `: ${away}` : ""}` : `Talk privately with ${nick}`;
    button.addEventListener("click", () => show(windowFor("private", nick)));
    item.append(button);
    list.append(item);
  }
}

function drawTopic() {
  $("topic").textContent = current ? (current.topic || (current.kind === "room" ? "" : `private: ${current.name}`)) : "";
  $("title").textContent = current ? current.name : "";
}

// -- lines ----------------------------------------------------------------------

function atEnd(pane) {
  const log = $("log");
  return pane.hidden || log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function scrollToEnd(win) {
  if (win === current) $("log").scrollTop = $("log").scrollHeight;
}

// A line in its window: messages with an id in id order (pages of history,
// and what a reconnection fetched, fall into place), everything else at the end.
function addLine(win, line, id) {
  const pane = win.pane;
  const log = $("log");
  const follow = atEnd(pane);
  if (id !== undefined) {
    if (win.ids.has(id)) return false;
    win.ids.add(id);
    line.dataset.id = id;
    if (win.oldest === null || id < win.oldest) win.oldest = id;
    let before = null, after = null;
    for (let node = pane.lastElementChild; node; node = node.previousElementSibling) {
      if (node.dataset.id === undefined) continue;
      if (Number(node.dataset.id) > id) before = node;
      else { after = node; break; }
    }
    if (before) {
      const height = log.scrollHeight;
      // Right after the line said before it, above the notices that came later (the join line);
      // older than every line: at the top, under "the beginning of ..." only.
      let at = after ? after.nextElementSibling : pane.firstElementChild;
      if (!after && at && at.classList.contains("beginning")) at = at.nextElementSibling;
      pane.insertBefore(line, at);
      if (win === current && !follow) log.scrollTop += log.scrollHeight - height;
      return true;
    }
  }
  pane.append(line);
  while (pane.childElementCount > MAX_LINES) {   // the oldest go: scrolling back fetches them again
    const gone = pane.firstElementChild;
    gone.remove();
    if (gone.dataset.id !== undefined) {
      win.ids.delete(Number(gone.dataset.id));
      win.more = true;
      const first = pane.querySelector("[data-id]");
      win.oldest = first ? Number(first.dataset.id) : null;
    }
  }
  if (follow) scrollToEnd(win);
  return true;
}

// http and https addresses in a line become links (nothing else: never javascript: or data:).
const LINK = /\bhttps?:\/\/[^\s<>"']+/gi;

function withLinks(span, text) {
  let at = 0;
  for (const match of text.matchAll(LINK)) {
    const address = match[0].replace(/[.,;:!?)\]]+$/, "");   // a sentence's punctuation is not the link's
    let url = null;
    try { url = new URL(address); } catch { url = null; }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    span.append(text.slice(at, match.index));
    const link = el("a", "link", address);
    link.href = url.href;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    span.append(link);
    at = match.index + address.length;
  }
  span.append(text.slice(at));
  return span;
}

function textLine(msg, mine) {
  const mentioned = !mine && msg.code === Code.MESSAGE && mentions(msg.text);
  const line = el("div", "line" + (msg.history ? " history" : "") + (msg.notice ? " notice" : "") +
    (mentioned ? " mention" : ""));
  line.append(el("time", "when", clock(msg.ts)));
  const color = COLORS.includes(msg.color) ? msg.color : "default";
  if (msg.action) {
    line.classList.add("action");
    line.append(el("span", "star", "* "), el("span", `nick ${nickClass(msg.nick)}`, msg.nick),
      withLinks(el("span", `text c-${color}`), ` ${msg.text || ""}`));
  } else {
    line.append(el("span", `nick ${nickClass(msg.nick)}${mine ? " me" : ""}`, msg.nick),
      withLinks(el("span", `text c-${color}`), msg.text || ""));
  }
  return line;
}

function noticeLine(text, kind = "info") {
  const line = el("div", `line ${kind}`);
  line.append(el("time", "when", clock()), el("span", "text", text));
  return line;
}

function info(text, kind = "info", win = current) {
  if (!win) win = windowFor("room", "lobby");
  addLine(win, noticeLine(text, kind));
}

// Whether a line names me: my nickname as a word of its own ("malice" does not mention alice).
function mentions(text) {
  if (!chat.nick || !text) return false;
  const words = fold(text).split(/[^\p{L}\p{N}_\-|]+/u);
  return words.includes(fold(chat.nick));
}

function arrived(win, msg, counted) {
  if (!counted || msg.history) return;
  const personal = msg.code === Code.PRIVATE || mentions(msg.text);
  if (win !== current || document.hidden) {
    win.unread += 1;
    if (personal) win.mentioned = true;
    drawWindows();
  }
  if (personal && document.hidden) notify(win, msg);
}

// -- desktop notifications: asked for once, on a click; shown for what is mine while the tab is hidden --

function askToNotify() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  Notification.requestPermission();
}

function notify(win, msg) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const title = win.kind === "private" ? `${msg.nick} (private)` : `${msg.nick} in ${win.name}`;
  const shown = new Notification(title, {body: msg.text || "", tag: win.key});
  shown.onclick = () => { window.focus(); show(win); shown.close(); };
}

// -- what the server says -----------------------------------------------------------

function received(msg) {
  switch (msg.code) {
    case Code.MESSAGE: {
      if (msg.room === undefined || msg.nick === undefined) {   // a server notice
        info(msg.text || "", msg.close ? "alert" : "info", msg.room ? windowFor("room", msg.room) : current);
        return;
      }
      const win = windowFor("room", msg.room);
      if (addLine(win, textLine(msg, msg.nick === chat.nick), msg.id)) arrived(win, msg, true);
      return;
    }
    case Code.PRIVATE: {
      const other = msg.nick === chat.nick ? msg.to : msg.nick;
      const win = windowFor("private", other);
      addLine(win, textLine(msg, msg.nick === chat.nick));
      arrived(win, msg, msg.nick !== chat.nick);
      return;
    }
    case Code.JOIN: {
      const win = windowFor("room", msg.room);
      if (msg.nick === chat.nick) { win.joined = true; win.name = msg.room; drawWindows(); }
      else if (!win.members.some((n) => fold(n) === fold(msg.nick))) win.members = sorted([...win.members, msg.nick]);
      addLine(win, noticeLine(msg.text || `${msg.nick} has joined ${msg.room}`, "event"));
      if (win === current) drawMembers();
      return;
    }
    case Code.LEAVE: {
      if (msg.room === undefined) {  // our own quit's goodbye
        info(msg.text || "Goodbye.", "alert");
        return;
      }
      const win = windowFor("room", msg.room);
      win.members = win.members.filter((n) => fold(n) !== fold(msg.nick));
      win.away.delete(fold(msg.nick));
      addLine(win, noticeLine(msg.text || `${msg.nick} has left`, "event"));
      if (msg.nick === chat.nick) {
        win.joined = false;
        closeWindow(win);
      } else if (win === current) drawMembers();
      return;
    }
    case Code.NAMES: {
      const win = windowFor("room", msg.room);
      win.listing = [...(win.listing || []), ...(msg.names || [])];
      win.awayListing = [...(win.awayListing || []), ...(msg.away || [])];
      if (!msg.more) {
        win.members = sorted(win.listing);
        // Who is away: their messages come with code 18 (a list says only who).
        win.away = new Map(win.awayListing.map((n) => [fold(n), win.away.get(fold(n)) || ""]));
        win.listing = win.awayListing = null;
        if (win === current) drawMembers();
      }
      return;
    }
    case Code.MEMBER_AWAY: {   // a member of a room went away (text) or came back
      const win = windows.get("#" + fold(msg.room));
      if (!win) return;
      if (msg.text) win.away.set(fold(msg.nick), msg.text);
      else win.away.delete(fold(msg.nick));
      if (win === current) drawMembers();
      return;
    }
    case Code.NICK: {   // an announcement in a room: someone renamed
      const win = windowFor("room", msg.room);
      win.members = sorted(win.members.map((n) => (fold(n) === fold(msg.nick) ? msg.text : n)));
      if (win.away.has(fold(msg.nick))) {
        win.away.set(fold(msg.text), win.away.get(fold(msg.nick)));
        win.away.delete(fold(msg.nick));
      }
      addLine(win, noticeLine(`${msg.nick} is now known as ${msg.text}`, "event"));
      if (win === current) drawMembers();
      return;
    }
    case Code.HISTORY: {
      const win = windows.get("#" + fold(msg.room));
      if (!win) return;
      if (msg.after === undefined) win.more = Boolean(msg.more);
      if (msg.before !== undefined) {
        win.loadingOlder = false;
        if (!msg.more) win.pane.prepend(noticeLine(`the beginning of ${win.name}`, "event beginning"));
      }
      return;
    }
    case Code.TOPIC: {
      const win = windowFor("room", msg.room);
      win.topic = msg.text || "";
      if (!msg.history) addLine(win, noticeLine(msg.text ? `${msg.nick} set the topic: ${msg.text}` : `${msg.nick} cleared the topic`, "event"));
      if (win === current) drawTopic();
      return;
    }
    case Code.AWAY: {
      if (msg.nick === chat.nick) {
        setStatus(msg.text ? `away: ${msg.text}` : "back", "online");
        info(msg.text ? `You are away: ${msg.text}` : "You are back.");
      } else {
        info(`${msg.nick} is away: ${msg.text || ""}`, "info", windowFor("private", msg.nick));
      }
      return;
    }
    case Code.ROOMS:
      info(`Rooms: ${(msg.names || []).join(", ") || "none"}${msg.more ? " …" : ""}`);
      return;
    case Code.ERROR:
      info(msg.text || msg.error, "error");
      return;
    case Code.INFO:
      info(`Server: ${msg.text || ""}`);
      return;
    case Code.REGISTER:
      if (msg.room !== undefined) return;   // someone in a room logged in or out of an account
      info(`Your nickname is registered: ${msg.text} is your account. Sign in with its password next time.`);
      return;
    case Code.SET_PASSWORD:
      info("Your password is changed.");
      return;
    default:
      return;   // a code this page does not know (a newer server's)
  }
}

function sorted(names) { return [...names].sort((a, b) => fold(a).localeCompare(fold(b))); }

// -- scrolling back --------------------------------------------------------------

function older() {
  const win = current;
  if (!win || win.kind !== "room" || !win.more || win.loadingOlder || win.oldest === null) return;
  win.loadingOlder = true;
  chat.send({code: Code.HISTORY, room: win.name, before: win.oldest, limit: OLDER_PAGE});
}

// -- what the user types -------------------------------------------------------------

const HELP = [
  "/join ROOM, /part [reason], /me ACTION, /msg NICK TEXT, /query NICK, /nick NEW,",
  "/topic [TEXT], /away [TEXT], /back, /names, /list, /info, /close, /quit [reason],",
  "/register or /password (your account: the Account button does the same).",
  "Keys: Alt+1…9 or Alt+↑/↓ switch windows, PageUp/PageDown scroll, Tab completes a nickname.",
];

function command(line) {
  const [word, ...rest] = line.slice(1).split(" ");
  const args = rest.join(" ").trim();
  const room = current && current.kind === "room" ? current.name : null;
  switch (word.toLowerCase()) {
    case "join": case "j":
      if (!args) return info("/join ROOM", "error");
      for (const name of args.split(/[ ,]+/).filter(Boolean)) {
        const win = windows.get("#" + fold(name));
        if (win && win.joined) show(win);
        else { chat.join(name); show(windowFor("room", name)); }
      }
      return;
    case "part": case "leave":
      if (!room) return info("not in a room window", "error");
      chat.send({code: Code.LEAVE, room, text: args});
      return;
    case "me":
      return say(args, true);
    case "msg": case "query": {
      const [nick, ...words] = args.split(" ");
      if (!nick) return info(`/${word} NICK`, "error");
      show(windowFor("private", nick));
      if (words.join(" ").trim()) say(words.join(" "), false);
      return;
    }
    case "nick":
      if (!args) return info("/nick NEW", "error");
      chat.send({code: Code.NICK, text: args});
      return;
    case "topic":
      if (!room) return info("not in a room window", "error");
      chat.send(args ? {code: Code.TOPIC, room, text: args} : {code: Code.TOPIC, room});
      return;
    case "away":
      chat.send(args ? {code: Code.AWAY, text: args} : {code: Code.AWAY});
      return;
    case "back":
      chat.send({code: Code.AWAY});
      return;
    case "names":
      if (!room) return info("not in a room window", "error");
      chat.send({code: Code.NAMES, room});
      info(`${current.members.length} in ${room}: ${current.members.join(", ")}`);
      return;
    case "list":
      chat.send({code: Code.ROOMS});
      return;
    case "info":
      chat.send({code: Code.INFO});
      return;
    case "close":
      if (!current) return;
      if (current.kind === "room" && current.joined) chat.send({code: Code.LEAVE, room: current.name, text: args});
      else closeWindow(current);
      return;
    case "quit":
      chat.quit(args);
      return;
    case "register": case "password": case "account":
      $("show-account").click();   // passwords go in its fields, never in the message box
      return;
    case "help":
      HELP.forEach((h) => info(h));
      return;
    default:
      info(`unknown command /${word}: /help lists them`, "error");
  }
}

function say(text, action) {
  if (!text.trim()) return;
  const win = current;
  if (!win) return;
  const color = $("color").value;
  const msg = win.kind === "room"
    ? {code: Code.MESSAGE, room: win.name, text, color}
    : {code: Code.PRIVATE, to: win.name, text, color};
  if (action) msg.action = true;
  $("log").scrollTop = $("log").scrollHeight;   // what one says is read at the end
  if (!chat.send(msg)) info(chat.everOnline ? "not connected: sent when the connection is back" : "not connected", "error");
}

function complete(input) {
  const upTo = input.value.slice(0, input.selectionStart);
  const start = upTo.search(/\S*$/);
  const prefix = fold(upTo.slice(start));
  if (!prefix || !current) return;
  const matches = current.members.filter((n) => fold(n).startsWith(prefix));
  if (matches.length === 1) {
    const done = matches[0] + (start === 0 ? ": " : " ");
    input.value = upTo.slice(0, start) + done + input.value.slice(input.selectionStart);
    input.selectionStart = input.selectionEnd = start + done.length;
  } else if (matches.length > 1) {
    info(matches.join("  "));
  }
}

// -- status --------------------------------------------------------------------------

function setStatus(text, state) {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = state;
  const banner = $("banner");
  banner.hidden = state !== "down" && state !== "connecting";
  if (!banner.hidden && chat.everOnline) banner.textContent = `Not connected: ${text}.`;
  else banner.hidden = true;
}

// -- wiring ---------------------------------------------------------------------------

// The password of the account being created at logon, until the nickname is taken.
let signingUp = null;

function start() {
  $("server").value = location.host;
  for (const color of COLORS) {
    const option = el("option", `c-${color}`, color);
    option.value = color;
    $("color").append(option);
  }
  const saved = sessionStorage.getItem("chat-nick");
  if (saved) $("nick").value = saved;

  const mode = () => document.querySelector('input[name="mode"]:checked').value;
  for (const choice of document.querySelectorAll('input[name="mode"]')) {
    choice.addEventListener("change", () => {
      $("password-row").hidden = mode() === "guest";
      $("password").autocomplete = mode() === "signup" ? "new-password" : "current-password";
      $("enter").textContent = {guest: "Enter the chat", signin: "Sign in", signup: "Create the account"}[mode()];
    });
  }

  $("logon-form").addEventListener("submit", (event) => {
    event.preventDefault();
    askToNotify();   // a click (or Enter) of the person's: the one moment a browser lets a page ask
    const nick = $("nick").value.trim();
    if (!nick) return;
    const password = $("password").value;
    if (mode() !== "guest" && !password) {
      $("logon-error").textContent = "Type the password.";
      $("password").focus();
      return;
    }
    $("logon-error").textContent = "";
    $("enter").disabled = true;
    // Creating an account: log on with the nickname (anyone's until then), then register it.
    signingUp = mode() === "signup" ? password : null;
    chat.logon(nick, signingUp ? "" : password);
  });

  chat.addEventListener("logon-failed", (event) => {
    const msg = event.detail;
    $("enter").disabled = false;
    if (msg.error === "password-required" || msg.error === "bad-password") {
      $("password-row").hidden = false;
      $("password").focus();
      if (signingUp !== null) {
        signingUp = null;
        $("logon-error").textContent = "This nickname has an account already: choose another, or sign in.";
        return;
      }
    }
    if (chat.everOnline && !msg.final) return;   // retried by the connection; the status says why
    if (msg.final) {   // given up: the person chooses another nickname (the rooms are joined again)
      $("chat").hidden = true;
      $("logon").hidden = false;
      $("banner").hidden = true;
      $("nick").focus();
    }
    $("logon-error").textContent = msg.text || msg.error;
  });

  chat.addEventListener("logon", (event) => {
    $("password").value = "";
    if (signingUp !== null) {
      chat.register(signingUp);
      signingUp = null;
    }
    sessionStorage.setItem("chat-nick", event.detail.nick);
    $("me").textContent = event.detail.nick;
    $("logon").hidden = true;
    $("chat").hidden = false;
    if (event.detail.first) {
      const room = new URLSearchParams(location.search).get("room") || "lobby";
      chat.join(room);
      show(windowFor("room", room));
    } else {
      for (const win of windows.values()) {
        if (win.kind === "room" && win.joined) info("reconnected", "event", win);
      }
    }
  });

  chat.addEventListener("renamed", (event) => {
    $("me").textContent = event.detail.nick;
    // In a room, its announcement says it; said here only where no room will.
    if (!current || current.kind !== "room" || !current.joined) info(`You are now known as ${event.detail.nick}`);
  });

  chat.addEventListener("caught-up", (event) => {
    if (event.detail.lost) {
      info("this server keeps no history: what was said while you were away cannot be shown", "error");
      return;
    }
    const win = windows.get("#" + fold(event.detail.room));
    if (win) info("caught up", "event", win);
  });

  chat.addEventListener("status", (event) => setStatus(event.detail.text, event.detail.state));
  chat.addEventListener("message", (event) => received(event.detail));

  $("say-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("say");
    const line = input.value;
    input.value = "";
    if (line.startsWith("/") && !line.startsWith("//")) command(line);
    else say(line.startsWith("//") ? line.slice(1) : line, false);
  });

  $("say").addEventListener("keydown", (event) => {
    const log = $("log");
    if (event.key === "Tab" && !event.shiftKey && event.target.value) {
      event.preventDefault();
      complete(event.target);
    } else if (event.key === "PageUp") {
      event.preventDefault();
      log.scrollTop -= log.clientHeight * 0.9;
      if (log.scrollTop < 40) older();
    } else if (event.key === "PageDown") {
      event.preventDefault();
      log.scrollTop += log.clientHeight * 0.9;
    }
  });

  document.addEventListener("keydown", (event) => {
    if (!event.altKey || $("chat").hidden) return;
    const at = order.indexOf(current?.key);
    let target = null;
    if (/^[1-9]$/.test(event.key)) target = order[Number(event.key) - 1];
    else if (event.key === "ArrowUp") target = order[(at - 1 + order.length) % order.length];
    else if (event.key === "ArrowDown") target = order[(at + 1) % order.length];
    if (target && windows.get(target)) {
      event.preventDefault();
      show(windows.get(target));
    }
  });

  $("log").addEventListener("scroll", () => { if ($("log").scrollTop < 40) older(); });
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("join-room").value.trim();
    $("join-room").value = "";
    if (name) command(`/join ${name}`);
  });
  const showAccount = () => {
    for (const name of document.querySelectorAll(".account-name")) name.value = chat.nick || "";
    $("account").showModal();
  };
  $("show-account").addEventListener("click", showAccount);
  $("close-account").addEventListener("click", () => $("account").close());
  $("register-form").addEventListener("submit", () => {
    const password = $("register-password").value;
    $("register-password").value = "";
    if (password) chat.register(password);
  });
  $("change-form").addEventListener("submit", () => {
    const current = $("current-password").value, next = $("new-password").value;
    $("current-password").value = $("new-password").value = "";
    if (current && next) chat.changePassword(current, next);
  });
  $("show-windows").addEventListener("click", () => document.body.classList.toggle("show-windows"));
  $("show-members").addEventListener("click", () => document.body.classList.toggle("show-members"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") document.body.classList.remove("show-windows", "show-members");
  });
  window.addEventListener("beforeunload", () => chat.quit("closed the page"));
  $("nick").focus();
}

start();
