/*
 * tmdbq's dashboard: the /v1 API of tmdbq-http, shown and steered from a browser tab.
 *
 * Plain JavaScript, no library. The page asks for the token once and keeps it in this
 * tab's sessionStorage (gone when the tab closes), sends it only to the server that
 * served the page, and reads /v1/status, /v1/history and /v1/failed every few seconds.
 * Everything the server says is put into the page as text (textContent, never HTML), and
 * the server's Content-Security-Policy allows no inline script and no other origin.
 */
'use strict';

(function () {
  const REFRESH_MS = 5000;
  const FAILED_LIMIT = 50;
  const ACTIONS_KEPT = 10;
  const TOKEN_KEY = 'tmdbq.token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const SYMBOL = {
    pending: '\u25f7', // ◷
    processing: '\u25b6', // ▶
    completed: '\u2713', // ✓
    failed: '\u2715', // ✕
    cancelled: '\u2298', // ⊘
  };

  const $ = (id) => document.getElementById(id);
  const numberFormat = new Intl.NumberFormat();
  const decimalFormat = new Intl.NumberFormat(undefined, {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  });

  const state = {
    token: null,
    timer: 0,
    generation: 0, // bumped by every refresh and sign-out: late answers are dropped
    clockOffsetMs: 0, // the server's clock minus ours, from /v1/history's "now"
    history: null,
    user: null, // the user id whose pending operations are shown
    actions: [], // done from this page, newest first
    updatedAt: null,
  };

  // ---- small helpers ------------------------------------------------------------------

  // An element with attributes and children; text goes in as text, never as HTML.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const kid of kids) {
      if (kid !== null && kid !== undefined && kid !== false) {
        e.append(kid instanceof Node ? kid : String(kid));
      }
    }
    return e;
  }

  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    for (const kid of kids) {
      if (kid !== null && kid !== undefined) {
        e.append(kid instanceof Node ? kid : String(kid));
      }
    }
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function fmtInt(n) {
    return n === null || n === undefined ? '\u2013' : numberFormat.format(n);
  }

  // An age for people: "42 s", "7 min 05 s", "3 h 20 min", "2 d 4 h".
  function fmtAge(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + String(s % 60).padStart(2, '0') + ' s';
    const h = Math.floor(m / 60);
    if (h < 48) return h + ' h ' + String(m % 60).padStart(2, '0') + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  // A short age for narrow columns: "42 s", "9 min", "5 h", "3 d".
  function fmtAgeShort(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 172800) return Math.floor(s / 3600) + ' h';
    return Math.floor(s / 86400) + ' d';
  }

  function serverNow() {
    return Date.now() + state.clockOffsetMs;
  }

  // How long ago an ISO time was, by the server's clock: "3 min 10 s ago".
  function fmtAgo(iso) {
    if (!iso) return '\u2013';
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return iso;
    const d = (serverNow() - t) / 1000;
    return d < -1 ? 'in ' + fmtAge(-d) : fmtAge(d) + ' ago';
  }

  // How long ago, short: "9 min ago".
  function fmtAgoShort(iso) {
    const t = iso ? Date.parse(iso) : NaN;
    if (Number.isNaN(t)) return '\u2013';
    return fmtAgeShort((serverNow() - t) / 1000) + ' ago';
  }

  function fmtClock(isoOrMs, seconds = true) {
    const d = new Date(isoOrMs);
    if (Number.isNaN(d.getTime())) return String(isoOrMs);
    const opts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    if (seconds) opts.second = '2-digit';
    return d.toLocaleTimeString([], opts);
  }

  function shortId(id) {
    return String(id).slice(0, 8);
  }

  function chip(status) {
    return el('span', { class: 'chip ' + status }, (SYMBOL[status] || '') + ' ' + status);
  }

  // What an operation is about beyond its type: the movie, or the list's name.
  function opDetail(op) {
    const d = op.operation_data || {};
    if (d.movie_id !== undefined) return 'movie ' + d.movie_id;
    if (typeof d.name === 'string') return '\u201c' + d.name + '\u201d';
    return '';
  }

  function typeCell(op) {
    const detail = opDetail(op);
    return el('td', { 'data-label': 'Type' }, el('span', null,
      el('span', { class: 'type' }, op.operation_type),
      detail ? el('span', { class: 'muted detail' }, detail) : null));
  }

  // An error message, two lines at most on the page (all of it in the tooltip).
  function errorCell(op) {
    const text = op.error_message || '\u2013';
    return el('td', { class: 'err', 'data-label': 'Error', title: op.error_message || '' },
      el('div', { class: 'clamp' }, text));
  }

  function replaceRows(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  // ---- the API ------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path) {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: { Authorization: 'Bearer ' + state.token, Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'omit',
        redirect: 'error',
      });
    } catch (e) {
      throw new ApiError(0, 'tmdbq-http does not answer');
    }
    const text = await response.text();
    let body = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch (e) {
        body = null;
      }
    }
    if (!response.ok) {
      const why = body && typeof body.error === 'string' ? body.error : 'HTTP ' + response.status;
      throw new ApiError(response.status, why);
    }
    return body;
  }

  // ---- signing in and out -------------------------------------------------------------

  function forgetToken() {
    state.token = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // storage disabled: nothing was kept
    }
  }

  function showLogin(message) {
    forgetToken();
    clearTimeout(state.timer);
    state.generation++;
    $('board').hidden = true;
    $('run').hidden = true;
    $('signout').hidden = true;
    $('updated').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }

  function showBoard() {
    $('login').hidden = true;
    $('board').hidden = false;
    $('signout').hidden = false;
    refreshNow();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (token === '') {
      $('login-error').textContent = 'Enter the token.';
      return;
    }
    state.token = token;
    $('connect').disabled = true;
    try {
      await api('GET', '/v1/stats');
    } catch (e) {
      // The token is checked before anything else: only 401 says it is wrong. A 503
      // (PostgreSQL away) still proves it, and the board says what is missing.
      if (e.status === 401 || e.status === 0) {
        $('connect').disabled = false;
        state.token = null;
        $('login-error').textContent =
          e.status === 401 ? 'tmdbq-http refused this token.' : e.message;
        return;
      }
    }
    $('connect').disabled = false;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch (e) {
      // storage disabled: the token lives as long as this page
    }
    $('login-error').textContent = '';
    showBoard();
  }

  // ---- refreshing ---------------------------------------------------------------------

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, REFRESH_MS);
  }

  function refreshNow() {
    clearTimeout(state.timer);
    refresh();
  }

  async function refresh() {
    if (!state.token) return;
    if (document.hidden) return; // visibilitychange refreshes when the tab is seen again
    const gen = ++state.generation;
    const tracked = state.actions.filter((a) => a.op && ['pending', 'processing'].includes(a.op.status));
    const calls = [
      api('GET', '/v1/status'),
      api('GET', '/v1/history'),
      api('GET', '/v1/failed?limit=' + FAILED_LIMIT),
      state.user !== null ? api('GET', '/v1/users/' + state.user + '/pending') : null,
      ...tracked.map((a) => api('GET', '/v1/operations/' + encodeURIComponent(a.op.id))),
    ];
    const results = await Promise.allSettled(calls.map((c) => c || Promise.resolve(null)));
    if (gen !== state.generation) return; // signed out, or a newer refresh started
    if (results.some((r) => r.status === 'rejected' && r.reason.status === 401)) {
      showLogin('tmdbq-http refused the token (was it changed?). Enter it again.');
      return;
    }
    const [status, history, failed, user, ...ops] = results;
    const problems = [];
    const note = (what, r) => {
      if (r.status === 'rejected') problems.push(what + ': ' + r.reason.message);
    };
    note('status', status);
    note('history', history);
    note('failed operations', failed);
    if (state.user !== null) note('user ' + state.user, user);

    if (history.status === 'fulfilled') {
      state.history = history.value;
      const t = Date.parse(history.value.now);
      if (!Number.isNaN(t)) state.clockOffsetMs = t - Date.now();
      renderHistory(history.value);
    }
    if (status.status === 'fulfilled') renderStatus(status.value);
    renderOldest(history.status === 'fulfilled' ? history.value : null);
    if (failed.status === 'fulfilled') renderFailed(failed.value);
    if (state.user !== null && user.status === 'fulfilled') renderUser(user.value);
    ops.forEach((r, i) => {
      if (r.status === 'fulfilled' && r.value) tracked[i].op = r.value;
    });
    renderActions();

    const ok = problems.length === 0;
    if (ok) state.updatedAt = Date.now();
    $('board').classList.toggle('stale', status.status === 'rejected' || history.status === 'rejected');
    const banner = $('banner');
    if (ok) {
      banner.hidden = true;
      banner.textContent = '';
    } else {
      banner.hidden = false;
      banner.textContent =
        'Could not read ' + problems.join('; ') +
        (state.updatedAt ? '. Showing what was read at ' + fmtClock(state.updatedAt) : '') +
        '. Trying again every ' + REFRESH_MS / 1000 + ' s.';
    }
    $('updated').textContent = state.updatedAt
      ? 'Updated ' + fmtClock(state.updatedAt) + ' \u00b7 every ' + REFRESH_MS / 1000 + ' s'
      : '';
    schedule();
  }

  // ---- status: the switch, the counts, the budget, the broker, the processes ------------

  function renderStatus(st) {
    const run = $('run');
    const label = $('run-state');
    const toggle = $('run-toggle');
    run.hidden = false;
    label.classList.toggle('paused', st.paused);
    label.textContent = st.paused ? '\u275a\u275a Paused' : '\u25b6 Running';
    label.title = (st.paused ? 'paused' : 'running') + (st.since ? ' since ' + st.since : '');
    toggle.textContent = st.paused ? 'Resume' : 'Pause';
    toggle.dataset.paused = st.paused ? 'true' : 'false';
    toggle.title = st.paused
      ? 'Let every consumer take work again'
      : 'Stop every consumer from taking new work (operations in flight finish)';

    const s = st.stats || {};
    for (const k of ['pending', 'processing', 'completed', 'failed', 'cancelled', 'total']) {
      $('n-' + k).textContent = fmtInt(s[k]);
    }
    renderBudget(st.tmdb_budget);
    renderQueues(st.broker);
    renderProcesses(st);
  }

  function renderOldest(history) {
    const e = $('oldest');
    if (!history) return;
    const age = history.oldest_pending_age_s;
    e.textContent = age === null || age === undefined ? 'none' : fmtAge(age);
    e.title = age === null || age === undefined
      ? 'nothing is pending'
      : 'the oldest pending operation was enqueued ' + fmtAge(age) + ' ago';
  }

  function renderBudget(b) {
    const conf = $('budget-conf');
    const box = $('budgets');
    if (!b) {
      conf.textContent = '';
      box.replaceChildren();
      return;
    }
    conf.replaceChildren(
      b.configured_rate > 0
        ? el('span', null, el('strong', null, fmtInt(b.configured_rate) + ' requests/s'),
          ' per ' + (b.scope === 'host' ? 'host' : 'queue') + ' (TMDBQ_TMDB_RATE of this server)')
        : el('span', null, 'No budget configured here (TMDBQ_TMDB_RATE=0)'));
    const scopes = b.scopes || [];
    if (scopes.length === 0) {
      box.replaceChildren(el('p', { class: 'muted' }, 'No consumer has used a budget yet.'));
      return;
    }
    box.replaceChildren(...scopes.map((sc) => {
      const share = sc.rate > 0 ? sc.sent_per_s / sc.rate : 0;
      const meter = el('div', {
        class: 'meter' + (share > 1 ? ' over' : ''),
        role: 'img',
        'aria-label': Math.round(share * 100) + '% of the rate in use',
      }, el('span'));
      meter.firstChild.style.width = Math.min(100, share * 100).toFixed(1) + '%';
      const cool = sc.cooldown_until
        ? 'until ' + fmtClock(sc.cooldown_until) + ' (' + fmtAge((Date.parse(sc.cooldown_until) - serverNow()) / 1000) + ' left)'
        : 'none';
      return el('div', { class: 'budget', 'data-scope': sc.scope },
        el('div', { class: 'panel-head' }, el('strong', null, 'scope ' + sc.scope),
          el('span', { class: 'muted' }, Math.round(share * 100) + '% in use')),
        meter,
        el('dl', null,
          el('dt', null, 'rate'), el('dd', null, fmtInt(sc.rate) + ' /s'),
          el('dt', null, 'sent, last minute'), el('dd', { class: 'sent' }, decimalFormat.format(sc.sent_per_s) + ' /s'),
          el('dt', null, 'requests, last minute'), el('dd', null, fmtInt(sc.requests_last_minute)),
          el('dt', null, '429s, last minute'), el('dd', { class: 'limited' }, fmtInt(sc.rate_limited_last_minute)),
          el('dt', null, 'cool-down'), el('dd', { class: 'cooldown' }, cool)));
    }));
  }

  function renderQueues(broker) {
    const note = $('queues-note');
    const tbody = $('queues').tBodies[0];
    if (!broker) return;
    if (!broker.reachable) {
      note.textContent = 'RabbitMQ is unreachable: ' + (broker.error || 'no reason given');
      replaceRows(tbody, []);
      return;
    }
    const all = [broker.work, ...(broker.retry || []), broker.dead].filter(Boolean);
    // The names share the stack's prefix (TMDBQ_AMQP_PREFIX): say it once.
    const prefix = broker.work && broker.work.name.endsWith('.work')
      ? broker.work.name.slice(0, -'.work'.length) : '';
    const mgmt = broker.management || {};
    note.textContent = 'prefix ' + prefix +
      (mgmt.reachable ? '' : ' \u00b7 unacked unknown: management API ' + (mgmt.error || 'unreachable'));
    replaceRows(tbody, all.map((q) => {
      const short = prefix && q.name.startsWith(prefix + '.') ? q.name.slice(prefix.length + 1) : q.name;
      return el('tr', { 'data-queue': short },
        el('td', { title: q.name }, short),
        el('td', { class: 'num' }, fmtInt(q.ready)),
        el('td', { class: 'num' }, fmtInt(q.unacked)),
        el('td', { class: 'num' }, fmtInt(q.consumers)));
    }));
  }

  // Consumers report one row per worker thread (host:pid:worker): shown per process.
  function groupConsumers(list) {
    const byProcess = new Map();
    for (const c of list) {
      const id = String(c.consumer_id);
      const key = id.includes(':') ? id.slice(0, id.lastIndexOf(':')) : id;
      const g = byProcess.get(key) || { key, workers: 0, processed: 0, failed: 0, busy: 0, seen: null };
      g.workers += 1;
      g.processed += c.processed || 0;
      g.failed += c.failed || 0;
      g.busy += c.in_flight || 0;
      if (!g.seen || c.last_seen_at > g.seen) g.seen = c.last_seen_at;
      byProcess.set(key, g);
    }
    return [...byProcess.values()];
  }

  function renderProcesses(st) {
    const live = groupConsumers(st.consumers || []);
    const stale = groupConsumers(st.stale_consumers || []);
    const row = (g, isLive) => el('tr', { 'data-consumer': g.key, class: isLive ? null : 'stale' },
      el('td', { class: 'nowrap' }, g.key,
        el('span', { class: 'muted detail' }, g.workers + (g.workers === 1 ? ' worker' : ' workers'))),
      el('td', { class: 'num' }, fmtInt(g.processed)),
      el('td', { class: 'num' }, fmtInt(g.failed)),
      el('td', { class: 'num' }, fmtInt(g.busy)),
      el('td', { class: 'num', title: g.seen || '' }, fmtAgoShort(g.seen)));
    replaceRows($('consumers').tBodies[0], [
      ...live.map((g) => row(g, true)),
      stale.length ? el('tr', { class: 'sub' }, el('th', { colspan: '5', scope: 'rowgroup' },
        'Stale: silent for over 15 s (stopped without saying so, or stuck)')) : null,
      ...stale.map((g) => row(g, false)),
    ].filter(Boolean));
    const workers = (st.consumers || []).length;
    $('consumers-note').textContent = live.length === 0
      ? 'No live consumer: nothing takes work.'
      : live.length + ' live consumer process' + (live.length === 1 ? '' : 'es') + ', ' +
        workers + ' worker' + (workers === 1 ? '' : 's') +
        (stale.length ? ' \u00b7 ' + stale.length + ' stale' : '');

    const reapers = (st.reaper && st.reaper.reapers) || [];
    const leader = st.reaper && st.reaper.leader;
    const rows = reapers.map((r) => {
      const role = r.leader && r.live
        ? chip('leader')
        : r.live ? el('span', null, 'standby') : chip('stale');
      if (r.leader && r.live) role.textContent = '\u2605 leader';
      return el('tr', { 'data-reaper': r.reaper_id },
        el('td', { class: 'nowrap' }, r.reaper_id),
        el('td', null, role),
        el('td', { class: 'num', title: r.last_sweep_at || '' }, r.last_sweep_at ? fmtAgoShort(r.last_sweep_at) : '\u2013'),
        el('td', { class: 'num', title: r.last_seen_at || '' }, fmtAgoShort(r.last_seen_at)));
    });
    if (!leader) {
      rows.unshift(el('tr', null, el('td', { colspan: '4' }, el('strong', null,
        'No live reaper leads: lost publishes are not relayed and expired leases not rescued.'))));
    }
    replaceRows($('reapers').tBodies[0], rows);
  }

  // ---- the chart of the last hour -------------------------------------------------------

  // The smallest "nice" number (1, 2, 5 x 10^k) at or above v.
  function niceMax(v) {
    if (v <= 1) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) {
      if (m * p >= v) return m * p;
    }
    return 10 * p;
  }

  function renderHistory(hist) {
    const minutes = hist.minutes || [];
    const total = { completed: 0, failed: 0, cancelled: 0, tmdb_requests: 0, tmdb_rate_limited: 0 };
    for (const m of minutes) {
      for (const k of Object.keys(total)) total[k] += m[k] || 0;
    }
    drawChart(minutes, total);
    $('chart-sum').textContent =
      'Last 60 minutes: ' + fmtInt(total.completed) + ' completed, ' + fmtInt(total.failed) +
      ' failed, ' + fmtInt(total.cancelled) + ' cancelled \u00b7 ' +
      fmtInt(total.tmdb_requests) + ' TMDB requests, ' + fmtInt(total.tmdb_rate_limited) +
      ' answered 429';
    replaceRows($('minutes').tBodies[0], minutes.slice().reverse().map((m) => el('tr', null,
      el('td', { title: m.minute }, fmtClock(m.minute, false)),
      el('td', { class: 'num' }, fmtInt(m.completed)),
      el('td', { class: 'num' }, fmtInt(m.failed)),
      el('td', { class: 'num' }, fmtInt(m.cancelled)),
      el('td', { class: 'num' }, fmtInt(m.tmdb_requests)),
      el('td', { class: 'num' }, fmtInt(m.tmdb_rate_limited)))));
  }

  function drawChart(minutes, total) {
    const box = $('chart');
    const width = Math.max(280, Math.floor(box.clientWidth || 600));
    const height = 212;
    const left = 44;
    const right = 6;
    const top = 8;
    const upper = 128; // finished operations
    const gap = 22;
    const lower = 30; // 429s
    const bottom = 20;
    const plotW = width - left - right;
    const n = Math.max(minutes.length, 1);
    const step = plotW / n;
    const barW = Math.max(1, step * 0.78);
    const yBase = top + upper;
    const lBase = yBase + gap + lower;
    const maxDone = niceMax(Math.max(0, ...minutes.map((m) => m.completed + m.failed + m.cancelled)));
    const maxLimited = niceMax(Math.max(0, ...minutes.map((m) => m.tmdb_rate_limited)));

    const root = svg('svg', {
      width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img',
      'aria-label': 'Operations finished per minute over the last hour: ' +
        fmtInt(total.completed) + ' completed, ' + fmtInt(total.failed) + ' failed, ' +
        fmtInt(total.cancelled) + ' cancelled; TMDB 429s: ' + fmtInt(total.tmdb_rate_limited),
    });
    // Grid and scales.
    for (const f of [0, 0.5, 1]) {
      const y = yBase - f * upper;
      root.append(svg('line', { class: 'grid', x1: left, x2: width - right, y1: y, y2: y }));
      root.append(svg('text', { class: 'axis', x: left - 6, y: y + 4, 'text-anchor': 'end' }, fmtInt(f * maxDone)));
    }
    root.append(svg('line', { class: 'grid', x1: left, x2: width - right, y1: lBase, y2: lBase }));
    root.append(svg('line', { class: 'grid', x1: left, x2: width - right, y1: lBase - lower, y2: lBase - lower }));
    root.append(svg('text', { class: 'axis', x: left - 6, y: lBase - lower + 4, 'text-anchor': 'end' }, fmtInt(maxLimited)));
    root.append(svg('text', { class: 'axis', x: left - 6, y: lBase + 4, 'text-anchor': 'end' }, '429s'));

    minutes.forEach((m, i) => {
      const x = left + i * step + (step - barW) / 2;
      const g = svg('g', { class: 'minute', 'data-minute': m.minute });
      g.append(svg('title', null,
        fmtClock(m.minute, false) + ': ' + m.completed + ' completed, ' + m.failed + ' failed, ' +
        m.cancelled + ' cancelled; TMDB ' + m.tmdb_requests + ' requests, ' +
        m.tmdb_rate_limited + ' answered 429'));
      g.append(svg('rect', { class: 'hover', x: left + i * step, y: top, width: step, height: lBase - top }));
      let y = yBase;
      const stack = (value, cls, hatch) => {
        if (!value) return;
        const hgt = (value / maxDone) * upper;
        y -= hgt;
        g.append(svg('rect', { class: cls, x, y, width: barW, height: hgt }));
        if (hatch) g.append(svg('rect', { class: 's-hatch', x, y, width: barW, height: hgt }));
      };
      stack(m.completed, 's-completed', false);
      stack(m.failed, 's-failed', true);
      stack(m.cancelled, 's-cancelled', false);
      if (m.tmdb_rate_limited) {
        const hgt = (m.tmdb_rate_limited / maxLimited) * lower;
        g.append(svg('rect', { class: 's-limited', x, y: lBase - hgt, width: barW, height: hgt }));
      }
      root.append(g);
      // A time label every 15 minutes (by the clock), clear of "now" at the end.
      const d = new Date(m.minute);
      const lx = left + (i + 0.5) * step;
      if (d.getMinutes() % 15 === 0 && lx < width - right - 52) {
        root.append(svg('text', { class: 'axis', x: lx, y: height - 4, 'text-anchor': 'middle' },
          fmtClock(m.minute, false)));
      }
    });
    root.append(svg('text', { class: 'axis', x: width - right, y: height - 4, 'text-anchor': 'end' }, 'now'));
    box.replaceChildren(root);
  }

  // ---- failed operations and a user's pending ones --------------------------------------

  function actionButton(label, cls, title, fn) {
    return el('button', { type: 'button', class: 'btn ' + cls, title, onclick: fn }, label);
  }

  function renderFailed(list) {
    const tbody = $('failed').tBodies[0];
    const rows = list.map((op) => el('tr', { 'data-id': op.id },
      el('td', { class: 'when', title: op.updated_at, 'data-label': 'Failed' }, fmtAgo(op.updated_at)),
      typeCell(op),
      el('td', { class: 'num', 'data-label': 'User' }, op.tmdb_user_id),
      el('td', { class: 'num', 'data-label': 'List' }, op.tmdb_list_id === null ? '\u2013' : op.tmdb_list_id),
      el('td', { class: 'num', 'data-label': 'Retries' }, op.retry_count),
      errorCell(op),
      el('td', { class: 'acts' },
        actionButton('Retry', 'btn-primary btn-retry', 'Back to pending with a full retry budget: ' + op.id,
          (ev) => act(ev.currentTarget, 'retry', op)),
        actionButton('Cancel', 'btn-danger btn-cancel', 'Give it up for good: ' + op.id,
          (ev) => act(ev.currentTarget, 'cancel', op)))));
    replaceRows(tbody, rows);
    $('failed').hidden = list.length === 0;
    $('failed-empty').hidden = list.length !== 0;
    $('failed-note').textContent = list.length >= FAILED_LIMIT
      ? '(newest ' + FAILED_LIMIT + ')'
      : list.length ? '(newest first)' : '';
  }

  function renderUser(list) {
    const table = $('user-ops');
    table.hidden = list.length === 0;
    $('user-note').textContent = list.length === 0
      ? 'User ' + state.user + ' has no pending or processing operation.'
      : 'User ' + state.user + ': ' + list.length + ' pending or processing, oldest first.';
    replaceRows(table.tBodies[0], list.map((op) => el('tr', { 'data-id': op.id },
      el('td', { class: 'when', title: op.inserted_at, 'data-label': 'Enqueued' }, fmtAgo(op.inserted_at)),
      el('td', { 'data-label': 'Status' }, chip(op.status)),
      typeCell(op),
      el('td', { class: 'num', 'data-label': 'List' }, op.tmdb_list_id === null ? '\u2013' : op.tmdb_list_id),
      el('td', { class: 'num', 'data-label': 'Retries' }, op.retry_count),
      el('td', { class: 'when', title: op.scheduled_for || '', 'data-label': 'Due' }, fmtDue(op.scheduled_for)),
      errorCell(op),
      userActions(op))));
  }

  // When a pending operation is due: "now", or "in 3 min 10 s" for a retry that waits.
  function fmtDue(iso) {
    const t = iso ? Date.parse(iso) : NaN;
    if (Number.isNaN(t) || t <= serverNow()) return 'now';
    return 'in ' + fmtAge((t - serverNow()) / 1000);
  }

  function userActions(op) {
    const td = el('td', { class: 'acts' });
    if (op.status === 'pending') {
      td.append(
        actionButton('Process now', 'btn-process', 'Make it due now and publish it: ' + op.id,
          (ev) => act(ev.currentTarget, 'process', op)),
        actionButton('Cancel', 'btn-danger btn-cancel', 'Cancel it: ' + op.id,
          (ev) => act(ev.currentTarget, 'cancel', op)));
    }
    return td;
  }

  function onUser(ev) {
    ev.preventDefault();
    const v = $('user').value.trim();
    if (!/^[0-9]{1,10}$/.test(v) || Number(v) < 1 || Number(v) > 2147483647) {
      $('user-note').textContent = 'A TMDB user id is a whole number from 1 to 2147483647.';
      $('user-ops').hidden = true;
      state.user = null;
      return;
    }
    state.user = Number(v);
    $('user-note').textContent = 'Reading user ' + state.user + '\u2026';
    refreshNow();
  }

  // ---- steering -------------------------------------------------------------------------

  const VERB = { retry: 'Retried', cancel: 'Cancelled', process: 'Processed now' };

  async function act(button, what, op) {
    if (what === 'cancel' && !window.confirm(
      'Cancel ' + op.operation_type + ' ' + shortId(op.id) + ' of user ' + op.tmdb_user_id +
      (op.status === 'failed' ? ' for good? It will not be retried.' : '? It will not run.'))) {
      return;
    }
    button.disabled = true;
    const entry = { at: Date.now(), what, id: op.id, before: op, op: null, error: null };
    try {
      entry.op = await api('POST', '/v1/operations/' + encodeURIComponent(op.id) + '/' + what);
    } catch (e) {
      if (e.status === 401) {
        showLogin('tmdbq-http refused the token. Enter it again.');
        return;
      }
      entry.error = e.message;
      button.disabled = false;
    }
    state.actions.unshift(entry);
    state.actions.length = Math.min(state.actions.length, ACTIONS_KEPT);
    renderActions();
    refreshNow();
  }

  function renderActions() {
    const list = $('actions');
    $('actions-empty').hidden = state.actions.length > 0;
    list.replaceChildren(...state.actions.map((a) => {
      const op = a.op || a.before;
      const what = el('span', null, fmtClock(a.at) + ' ', el('strong', null, VERB[a.what]), ' ',
        el('code', { title: op.id }, shortId(op.id)), ' ', op.operation_type + ' \u00b7 user ' +
        op.tmdb_user_id + (op.tmdb_list_id === null ? '' : ' \u00b7 list ' + op.tmdb_list_id));
      return el('li', { 'data-id': a.id, 'data-what': a.what },
        what, ' \u2192 ',
        a.error ? el('span', { class: 'err-text' }, 'refused: ' + a.error) : chip(a.op.status));
    }));
  }

  async function onToggle() {
    const button = $('run-toggle');
    const pause = button.dataset.paused !== 'true';
    if (pause && !window.confirm('Pause every consumer? Operations in flight finish; nothing new is taken until you resume.')) {
      return;
    }
    button.disabled = true;
    try {
      await api('POST', pause ? '/v1/pause' : '/v1/resume');
    } catch (e) {
      if (e.status === 401) {
        showLogin('tmdbq-http refused the token. Enter it again.');
        return;
      }
      $('banner').hidden = false;
      $('banner').textContent = 'Could not ' + (pause ? 'pause' : 'resume') + ': ' + e.message;
    }
    button.disabled = false;
    refreshNow();
  }

  // ---- start ----------------------------------------------------------------------------

  function start() {
    $('login-form').addEventListener('submit', onLogin);
    $('user-form').addEventListener('submit', onUser);
    $('run-toggle').addEventListener('click', onToggle);
    $('signout').addEventListener('click', () => showLogin('Token forgotten.'));
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.token) refreshNow();
    });
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (state.history) renderHistory(state.history);
      }, 150);
    });
    try {
      state.token = sessionStorage.getItem(TOKEN_KEY);
    } catch (e) {
      state.token = null;
    }
    if (state.token) showBoard();
    else showLogin('');
  }

  start();
})();
