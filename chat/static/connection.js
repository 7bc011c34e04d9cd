// The chat over WebSocket: each message one CMsg JSON object, exactly as in
// docs/protocol.md.  This module knows the protocol and the connection
// (logon, keepalive, reconnecting, catching up on what was missed); it
// knows nothing of the page, which listens to its events.

export const Code = Object.freeze({
  JOIN: 1, LEAVE: 2, NAMES: 3, NICK: 4, MESSAGE: 5, PRIVATE: 6, ROOMS: 7, ERROR: 8,
  PING: 9, PONG: 10, HISTORY: 11, TOPIC: 12, AWAY: 13, INFO: 14, REGISTER: 15, SET_PASSWORD: 16,
  MEMBER_AWAY: 18,
});

// Seconds between reconnection attempts (then the last, again and again), and jitter.
const RETRY = [0.5, 1, 2, 3, 5, 8];
// Seconds of silence before we ask whether the server is there, and to wait for its answer.
const IDLE = 45;
const ANSWER = 20;
// Messages a HISTORY page asks for when catching up.
const CATCH_UP_PAGE = 200;
// Lines typed while the connection is down, kept to send once it is back.
const MAX_QUEUED = 50;
// Refusals of our nickname while reconnecting (about 8 s apart) before the person is asked.
const MAX_REFUSALS = 12;

export class ChatConnection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.nick = null;          // as the server accepted it
    this.wanted = null;        // as typed on the logon form
    this.password = "";
    this.pendingPassword = null;   // registered or changed, once the server says so
    this.online = false;       // logged on, now
    this.everOnline = false;   // logged on once: a drop is then reconnected
    this.quitting = false;
    this.rooms = new Set();    // joined, as the server spells them
    this.newest = new Map();   // room -> newest message id seen
    this.catchingUp = new Map(); // room -> {after, top}: pages of what was missed
    this.queued = [];
    this.refused = null;       // why logging on again was last refused
    this.refusals = 0;
    this.attempt = 0;
    this.retryTimer = null;
    this.idleTimer = null;
    this.answerTimer = null;
  }

  // -- what the page calls ------------------------------------------------

  logon(nick, password) {
    this.wanted = nick;
    this.password = password || "";
    this.quitting = false;
    this.refusals = 0;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this._sendLogon();
    else this._open();
  }

  send(msg) {
    if (this.online && this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    if (this.everOnline && this.queued.length < MAX_QUEUED) this.queued.push(msg);
    return false;
  }

  join(room) { this.send({code: Code.JOIN, room}); }

  // Accounts: the password the answer confirms becomes the one this page logs on with when it reconnects.
  register(password) {
    this.pendingPassword = password;
    this.send({code: Code.REGISTER, password});
  }

  changePassword(current, next) {
    this.pendingPassword = next;
    this.send({code: Code.SET_PASSWORD, password: current, new_password: next});
  }

  quit(reason) {
    this.quitting = true;
    clearTimeout(this.retryTimer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({code: Code.LEAVE, close: true, text: reason || ""}));
    }
  }

  // -- the connection ------------------------------------------------------

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, {detail})); }

  _status(state, text) { this._emit("status", {state, text}); }

  _open() {
    clearTimeout(this.retryTimer);
    this._status("connecting", this.everOnline ? "reconnecting…" : "connecting…");
    const ws = this.ws = new WebSocket(this.url);
    ws.onopen = () => { this._heard(); this._sendLogon(); };
    ws.onmessage = (event) => {
      this._heard();
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      if (msg && typeof msg.code === "number") this._handle(msg);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const was = this.online;
      this.online = false;
      clearTimeout(this.idleTimer);
      clearTimeout(this.answerTimer);
      if (this.quitting) { this._status("closed", "you left the chat"); return; }
      if (!this.everOnline) {
        this._status("closed", "cannot reach the chat server");
        this._emit("logon-failed", {error: "unreachable", text: "Cannot reach the chat server."});
        return;
      }
      const delay = RETRY[Math.min(this.attempt, RETRY.length - 1)] * (0.8 + 0.4 * Math.random());
      this.attempt += 1;
      const why = this.refused ? `${this.refused.text}` : (was ? "connection lost" : "the chat server cannot be reached");
      this._status("down", `${why}: reconnecting in ${Math.max(1, Math.round(delay))} s`);
      this.retryTimer = setTimeout(() => this._open(), delay * 1000);
    };
  }

  _sendLogon() {
    const msg = {code: Code.NICK, text: this.wanted};
    if (this.password) msg.password = this.password;
    this.ws.send(JSON.stringify(msg));
  }

  _heard() {
    clearTimeout(this.idleTimer);
    clearTimeout(this.answerTimer);
    this.idleTimer = setTimeout(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(JSON.stringify({code: Code.PING, text: "keepalive"}));
      this.answerTimer = setTimeout(() => { if (this.ws) this.ws.close(); }, ANSWER * 1000);
    }, IDLE * 1000);
  }

  _raw(msg) { if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg)); }

  // -- what the server says --------------------------------------------------

  _handle(msg) {
    switch (msg.code) {
      case Code.PING:
        this._raw({code: Code.PONG, text: msg.text || ""});
        return;
      case Code.NICK:
        if (msg.room === undefined) { this._loggedOn(msg); return; }
        break;
      case Code.JOIN:
        if (msg.nick === this.nick) this.rooms.add(msg.room);
        break;
      case Code.LEAVE:
        if (msg.nick === this.nick && msg.room !== undefined) this.rooms.delete(msg.room);
        break;
      case Code.MESSAGE:
        if (msg.room !== undefined && typeof msg.id === "number") {
          if (!(this.newest.get(msg.room) >= msg.id)) this.newest.set(msg.room, msg.id);
          // Only the pages asked for move the catch-up on (not the join's replay, which may be far ahead).
          const paging = this.catchingUp.get(msg.room);
          if (paging && paging.asked && msg.history && msg.id > paging.top) paging.top = msg.id;
        }
        break;
      case Code.HISTORY:
        this._pageEnded(msg);
        break;
      case Code.REGISTER:
      case Code.SET_PASSWORD:
        if (this.pendingPassword) this.password = this.pendingPassword;
        this.pendingPassword = null;
        break;
      case Code.ERROR:
        if (msg.reply_to === Code.NICK && !this.online) {
          this._logonRefused(msg);
          return;
        }
        if (msg.reply_to === Code.HISTORY && msg.error === "no-history" && this.catchingUp.size) {
          this.catchingUp.clear();   // a server without history: what was missed is gone
          this._emit("caught-up", {room: null, lost: true});
          return;
        }
        break;
    }
    this._emit("message", msg);
  }

  _loggedOn(msg) {
    const first = !this.everOnline;
    const again = this.everOnline && !this.online;
    this.nick = msg.nick;
    this.wanted = msg.nick;
    if (this.online) { this._emit("renamed", msg); return; }
    this.online = this.everOnline = true;
    this.attempt = 0;
    this.refused = null;
    this.refusals = 0;
    this._status("online", "connected");
    this._emit("logon", {nick: this.nick, first});
    if (again) {
      // Back: join the rooms again, then fetch what was said while we were away.
      for (const room of this.rooms) {
        const seen = this.newest.get(room);
        if (seen !== undefined) this.catchingUp.set(room, {after: seen, top: seen, asked: false});
        this._raw({code: Code.JOIN, room});
      }
      this.rooms.clear();  // filled again as the joins are confirmed
      const queued = this.queued;
      this.queued = [];
      for (const line of queued) this._raw(line);
    }
  }

  _logonRefused(msg) {
    if (!this.everOnline) {
      this._emit("logon-failed", msg);
      return;
    }
    // Logging on again was refused: most often our old connection lingers on the server until it
    // notices it is gone (a minute or two).  Try again for a while, then ask the person.
    this.refused = msg;
    this.refusals += 1;
    if (this.refusals >= MAX_REFUSALS) {
      this.quitting = true;
      this._emit("logon-failed", {...msg, final: true});
    }
    this.ws.close();
  }

  _pageEnded(msg) {
    const paging = this.catchingUp.get(msg.room);
    if (!paging) return;
    if (!paging.asked || (msg.after !== undefined && msg.more)) {
      // The join's replay ended (or a page did, with more after it): ask for the next page.
      paging.asked = true;
      const after = paging.top;   // where the last page ended (at first, the newest id seen before the drop)
      this._raw({code: Code.HISTORY, room: msg.room, after, limit: CATCH_UP_PAGE});
    } else if (msg.after !== undefined) {
      this.catchingUp.delete(msg.room);
      this._emit("caught-up", {room: msg.room});
    }
  }
}
