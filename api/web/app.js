/* edsearch search page: plain JS over the JSON API. Text is always rendered with textContent. */
"use strict";
(function () {
  var SEARCH_K = 10;
  var $ = function (id) { return document.getElementById(id); };
  var form = $("search-form"), q = $("q"), statusEl = $("status"), results = $("results"), answerEl = $("answer");
  var tokenForm = $("token-form"), tokenInput = $("token");
  var selects = { author: $("author"), section: $("section") };
  var dates = { from: $("from"), to: $("to") };
  var sortSel = $("sort"), appliedEl = $("applied"), timelineEl = $("timeline");
  var noDates = "";   // "1": search the date words as typed (the user removed the date filter read from them)
  var inflight = null, pending = null, facetsLoaded = false;

  /* ---------- helpers ---------- */
  var el = window.edsearch.el, getToken = window.edsearch.getToken, setToken = window.edsearch.setToken;

  function ApiError(status, code, message) { this.status = status; this.code = code; this.message = message; }

  function api(path, signal) {
    var headers = { "Accept": "application/json" };
    var token = getToken();
    if (token) headers["Authorization"] = "Bearer " + token;
    return fetch(path, { headers: headers, signal: signal }).then(function (resp) {
      return resp.text().then(function (body) {
        var data = null;
        try { data = body ? JSON.parse(body) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          var err = (data && data.error) || {};
          throw new ApiError(resp.status, err.code || "http_" + resp.status,
                             err.message || (resp.statusText || "request failed") + " (HTTP " + resp.status + ")");
        }
        if (data === null) throw new ApiError(resp.status, "bad_response", "the server sent a response that is not JSON");
        return data;
      });
    }, function (e) {
      if (e && e.name === "AbortError") throw e;
      throw new ApiError(0, "network", "Could not reach the server. Check your connection and try again.");
    });
  }

  /* ---------- state in the URL ---------- */
  function currentMode() {
    var checked = form.querySelector('input[name="mode"]:checked');
    return checked ? checked.value : "search";
  }
  function setMode(mode) {
    var radio = form.querySelector('input[name="mode"][value="' + (mode === "ask" ? "ask" : "search") + '"]');
    radio.checked = true;
    $("go").textContent = mode === "ask" ? "Ask" : "Search";
    $("mode-hint").textContent = mode === "ask"
      ? "Ask answers from the archive; each sentence cites a numbered source below it."
      : "Search lists the passages that match best, matching words highlighted.";
    document.body.dataset.mode = mode === "ask" ? "ask" : "search";
    sortSel.disabled = mode === "ask";        // an answer cites its sources in the order it reads them
  }
  function readForm() {
    return { q: q.value.trim(), mode: currentMode(), author: selects.author.value, section: selects.section.value,
             from: dates.from.value, to: dates.to.value, sort: sortSel.value === "date" ? "date" : "",
             nodates: noDates };
  }
  function ensureOption(select, value) {
    if (!value) return;
    for (var i = 0; i < select.options.length; i++) if (select.options[i].value === value) return;
    select.appendChild(el("option", { value: value, text: value }));
  }
  function writeForm(s) {
    q.value = s.q || "";
    setMode(s.mode);
    ["author", "section"].forEach(function (k) { ensureOption(selects[k], s[k]); selects[k].value = s[k] || ""; });
    dates.from.value = s.from || ""; dates.to.value = s.to || "";
    sortSel.value = s.sort === "date" ? "date" : "relevance";
    noDates = s.nodates || "";
    updateFilterCount();
  }
  function stateFromUrl() {
    var p = new URLSearchParams(location.search);
    return { q: (p.get("q") || "").trim(), mode: p.get("mode") === "ask" ? "ask" : "search", author: p.get("author") || "",
             section: p.get("section") || "", from: p.get("from") || "", to: p.get("to") || "",
             sort: p.get("sort") === "date" ? "date" : "", nodates: p.get("dates") === "off" ? "1" : "" };
  }
  function urlFor(s) {
    var p = new URLSearchParams();
    if (s.q) p.set("q", s.q);
    if (s.mode === "ask") p.set("mode", "ask");
    ["author", "section", "from", "to", "sort"].forEach(function (k) { if (s[k]) p.set(k, s[k]); });
    if (s.nodates) p.set("dates", "off");
    var qs = p.toString();
    return location.pathname + (qs ? "?" + qs : "");
  }
  function updateFilterCount() {
    var n = ["author", "section"].filter(function (k) { return selects[k].value; }).length +
            ["from", "to"].filter(function (k) { return dates[k].value; }).length;
    $("filter-count").textContent = n ? "(" + n + " on)" : "";
    if (n) $("filters").open = true;
  }

  /* ---------- states ---------- */
  function showState(kind, title, detail) {
    statusEl.className = "state state-" + kind;
    statusEl.textContent = "";
    if (title) statusEl.appendChild(el(kind === "error" || kind === "notfound" || kind === "empty" || kind === "noresults" ? "strong" : "span", { text: title }));
    if (detail) statusEl.appendChild(el("p", { text: detail }));
    statusEl.setAttribute("data-state", kind);
  }
  function clearResults() {
    results.textContent = ""; answerEl.textContent = ""; answerEl.hidden = true; answerEl.className = "answer";
    appliedEl.textContent = ""; appliedEl.hidden = true;
  }

  /* ---------- time: filters read from the query, the timeline chart ---------- */
  // Date words in the query ("in 2026") become from/to filters on the server; show them, with a way to drop them.
  function renderApplied(applied, s) {
    // The dates the server applied, as it read them (a URL's 20240101 is 2024-01-01): a date input shows only a
    // full ISO date, and a filter the form does not show would be dropped by the next change without a word.
    (applied || []).forEach(function (f) {
      // only where the input still shows what was sent (a date input shows "" for 20250101): a change made
      // since is the user's, and stands
      var sent = s[f.name] || "", shown = /^\d{4}-\d{2}-\d{2}$/.test(sent) ? sent : "";
      if (f.origin === "request" && dates[f.name] && dates[f.name].value !== f.value &&
          dates[f.name].value === shown) {
        dates[f.name].value = f.value;
        updateFilterCount();
      }
    });
    // A date filter, given or read, leaves out the articles without a date: say how many, or they vanish unseen.
    var undated = (applied || []).reduce(function (n, f) { return Math.max(n, f.undated_left_out || 0); }, 0);
    if (undated) {
      appliedEl.appendChild(el("span", { className: "undated-note", text: "The date filter leaves out " + undated +
        (undated === 1 ? " undated article." : " undated articles.") }));
      appliedEl.hidden = false;
    }
    var fromQuery = (applied || []).filter(function (f) { return f.origin === "query"; });
    if (!fromQuery.length) return;
    var range = { from: "", to: "" };
    fromQuery.forEach(function (f) { range[f.name] = f.value; });
    var text = "Dates read from “" + fromQuery[0].phrase + "”: " +
      (range.from && range.to ? range.from + " to " + range.to : range.from ? "from " + range.from : "up to " + range.to);
    var remove = el("button", { type: "button", className: "link-button remove-dates", text: "Remove this filter",
                                "aria-label": "Remove the date filter read from the query" });
    remove.addEventListener("click", function () { noDates = "1"; submit(true); });
    appliedEl.appendChild(el("span", { className: "chip", text: text }));
    appliedEl.appendChild(remove);
    appliedEl.hidden = false;
  }

  function renderTimeline(data) {
    var bars = $("timeline-bars");
    bars.textContent = "";
    var buckets = (data && data.buckets) || [];
    if (!buckets.length) { timelineEl.hidden = true; return; }
    var top = Math.max.apply(null, buckets.map(function (b) { return b.count; })) || 1;
    buckets.forEach(function (b) {
      var label = b.period + ": " + b.count + (b.count === 1 ? " article" : " articles");
      var bar = el("button", { type: "button", className: "bar" + (b.count ? "" : " bar-empty"), title: label,
                               "aria-label": label + ". Show only this " + data.interval, role: "listitem",
                               "data-period": b.period, "data-start": b.start, "data-end": b.end },
                   [el("span", { className: "bar-fill", style: "height:" + Math.round(100 * b.count / top) + "%" })]);
      bar.disabled = !b.count;
      bar.addEventListener("click", function () {
        dates.from.value = b.start; dates.to.value = b.end;
        submit(true);
      });
      bars.appendChild(bar);
    });
    $("timeline-note").textContent = buckets[0].period + " – " + buckets[buckets.length - 1].period + " · " +
      data.matched + " matching " + (data.matched === 1 ? "article" : "articles") + " by " + data.interval +
      (data.undated ? " (" + data.undated + " undated)" : "") + ". Click a bar to show only that " + data.interval + ".";
    timelineEl.hidden = false;
  }

  function loadTimeline(params, signal) {
    api("/timeline?" + params.toString(), signal).then(renderTimeline, function (err) {
      if (!(err && err.name === "AbortError")) timelineEl.hidden = true;   // the chart is extra: no error state
    });
  }

  /* ---------- rendering ---------- */
  // Highlight spans are Python offsets (code points): slice code point arrays, not UTF-16 strings.
  // `answer`: [start, end) of the sentence the answer model picks for a question (marked as <mark class="answer">).
  function renderPassage(text, spans, cited, answer) {
    var chars = Array.from(text);
    var cuts = [0, chars.length];
    var all = [];
    (spans || []).forEach(function (s) { all.push({ s: s[0], e: s[1], kind: "term" }); });
    (cited || []).forEach(function (s) { all.push({ s: s[0], e: s[1], kind: "cited" }); });
    if (answer) all.push({ s: answer[0], e: answer[1], kind: "answer" });
    all.forEach(function (sp) {
      sp.s = Math.max(0, Math.min(chars.length, sp.s)); sp.e = Math.max(sp.s, Math.min(chars.length, sp.e));
      cuts.push(sp.s, sp.e);
    });
    cuts = cuts.filter(function (v, i, a) { return a.indexOf(v) === i; }).sort(function (a, b) { return a - b; });
    var out = el("p", { className: "passage" }), wrapper = null;
    for (var i = 0; i + 1 < cuts.length; i++) {
      var a = cuts[i], b = cuts[i + 1];
      if (a === b) continue;
      var piece = chars.slice(a, b).join("");
      var term = all.some(function (sp) { return sp.kind === "term" && sp.s <= a && sp.e >= b; });
      var inCited = all.some(function (sp) { return sp.kind === "cited" && sp.s <= a && sp.e >= b; });
      var inAnswer = all.some(function (sp) { return sp.kind === "answer" && sp.s <= a && sp.e >= b; });
      var node = term ? el("mark", { text: piece }) : document.createTextNode(piece);
      if (inCited || inAnswer) {  // one wrapper per run of cited (or answering) text, matching terms marked inside
        if (!wrapper) {
          wrapper = inCited ? el("span", { className: "cited-sentence" })
                            : el("mark", { className: "answer", title: "the sentence that best answers the question" });
          out.appendChild(wrapper);
        }
        wrapper.appendChild(node);
      } else {
        wrapper = null;
        out.appendChild(node);
      }
    }
    return out;
  }

  function paraRef(paras) {
    if (!paras || !paras.length) return "";
    var lo = Math.min.apply(null, paras), hi = Math.max.apply(null, paras);
    return lo === hi ? "para " + lo : "paras " + lo + "\u2013" + hi;
  }
  function articleLink(hit, paras) {
    var link = "/articles/" + encodeURIComponent(hit.article.id);
    if (!paras || !paras.length) return link;
    var lo = Math.min.apply(null, paras), hi = Math.max.apply(null, paras);
    return link + "?p=" + (lo === hi ? lo : lo + "-" + hi) + "#p" + lo;
  }
  // The server's label names the passage's paragraphs; a card that cites fewer (an answer's sentences) names
  // those, so the label, the link and the highlight agree.
  function labelFor(hit, paras) {
    var label = hit.citation.label, whole = paraRef(hit.citation.paragraphs), mine = paraRef(paras);
    return whole && mine && label.slice(-whole.length) === whole ? label.slice(0, -whole.length) + mine : label;
  }
  function citationText(hit, paras) {
    var link = hit.citation.link || new URL(articleLink(hit, paras), location.href).href;
    return labelFor(hit, paras) + " " + link;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }
  function legacyCopy(text) {
    return new Promise(function (resolve, reject) {
      var area = el("textarea", { readonly: "", "aria-hidden": "true", className: "offscreen" });
      area.value = text;
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy failed"));
    });
  }

  function card(hit, opts) {
    opts = opts || {};
    var paras = opts.paragraphs && opts.paragraphs.length ? opts.paragraphs : hit.citation.paragraphs;
    var href = articleLink(hit, paras);
    var art = hit.article;
    var number = opts.number || hit.rank;
    var li = el("li", { className: "card", id: opts.id || ("hit-" + number), "data-article-id": art.id });
    var head = el("h3", { className: "headline" }, [
      el("span", { className: "num", text: opts.sourceLabel ? "[" + number + "] " : number + ". " }),
      el("a", { href: href, className: "title-link", text: art.title })
    ]);
    var meta = [art.author || art.publication, art.published, art.section, paraRef(paras)].filter(Boolean);
    var metaEl = el("p", { className: "meta" });
    meta.forEach(function (m, i) {
      if (i) metaEl.appendChild(document.createTextNode(" \u00b7 "));
      metaEl.appendChild(el("span", { className: i === meta.length - 1 && paras && paras.length ? "para-ref" : "", text: m }));
    });
    var span = hit.answer_span, start = hit.citation.char_start;
    var answer = !opts.cited && span ? [span.char_start - start, span.char_end - start] : null;
    var passage = renderPassage(hit.text, hit.highlights, opts.cited, answer);
    var copyBtn = el("button", { type: "button", className: "copy-citation", text: "Copy citation",
                                 "aria-label": "Copy citation: " + labelFor(hit, paras) });
    var citationLine = el("p", { className: "citation-label", text: labelFor(hit, paras) });
    copyBtn.addEventListener("click", function () {
      var text = citationText(hit, paras);
      copyText(text).then(function () {
        copyBtn.textContent = "Copied \u2713";
        copyBtn.setAttribute("data-copied", text);
        showToast("Citation copied: " + text);
      }, function () {
        copyBtn.textContent = "Copy failed";
        showToast("Could not copy. Select the citation text and copy it by hand.");
      });
      setTimeout(function () { copyBtn.textContent = "Copy citation"; }, 2500);
    });
    var actions = el("div", { className: "actions" }, [
      el("a", { href: href, className: "open-article", text: "Open article at " + (paraRef(paras) || "start") }),
      copyBtn,
      hit.citation.link ? el("a", { href: hit.citation.link, className: "source-link", rel: "noopener noreferrer",
                                    target: "_blank", text: "Original \u2197" }) : null
    ]);
    li.appendChild(head); li.appendChild(metaEl); li.appendChild(passage); li.appendChild(citationLine);
    li.appendChild(actions);
    // Copies collapsed into this result: byte-identical ones and other versions (republished, corrected).
    [["Also filed as: ", hit.duplicates], ["Other versions: ", hit.near_duplicates]].forEach(function (pair) {
      if (!pair[1] || !pair[1].length) return;
      var line = el("p", { className: "meta versions", text: pair[0] });
      pair[1].forEach(function (id, i) {
        if (i) line.appendChild(document.createTextNode(", "));
        line.appendChild(el("a", { href: "/articles/" + encodeURIComponent(id), text: id }));
      });
      li.appendChild(line);
    });
    return li;
  }

  var toastTimer = null;
  function showToast(text) {
    var t = $("toast");
    if (!t) { t = el("div", { id: "toast", className: "toast", role: "status", "aria-live": "polite" }); document.body.appendChild(t); }
    t.textContent = text; t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 3000);
  }

  function renderSearch(data, s) {
    clearResults();
    if (!data.hits || !data.hits.length) {
      var filtered = s.author || s.section || s.from || s.to;
      showState("noresults", "No results for \u201c" + s.q + "\u201d.",
                filtered ? "Try removing some filters, or use fewer or different words."
                         : "Try fewer or different words, or check the spelling of a quoted phrase.");
      return;
    }
    showState("ok", data.hits.length + (data.hits.length === 1 ? " passage" : " passages") + " for \u201c" + s.q + "\u201d",
              null);
    data.hits.forEach(function (hit) { results.appendChild(card(hit)); });
  }

  function renderAsk(data, s) {
    clearResults();
    var sources = data.sources || [];
    if (!data.found || !data.answer) {
      showState("notfound", "Not found in the archive.",
                data.message || "The archive does not seem to answer this question. Try Search to see the closest passages.");
      if (sources.length) {
        answerEl.hidden = false;
        answerEl.className = "answer answer-plain";
        answerEl.appendChild(el("h2", { className: "closest", text: "Closest passages (not enough to answer)" }));
        sources.forEach(function (hit, i) { results.appendChild(card(hit, { number: i + 1, id: "source-" + (i + 1), sourceLabel: true })); });
      }
      return;
    }
    showState("ok", "Answer from the archive", null);
    var sentences = data.sentences || [];
    var byCited = {};
    sentences.forEach(function (st) { (byCited[st.source] = byCited[st.source] || []).push(st); });
    // The answer text, its [n] markers as links to the numbered sources below.
    var text = el("p", { className: "answer-text" });
    String(data.answer).split(/(\[\d+\])/).forEach(function (part) {
      var m = /^\[(\d+)\]$/.exec(part);
      if (m && sources[+m[1] - 1]) {
        text.appendChild(el("a", { href: "#source-" + m[1], className: "marker", "aria-label": "source " + m[1], text: part }));
      } else if (part) {
        text.appendChild(document.createTextNode(part));
      }
    });
    var conf = typeof data.confidence === "number" ? Math.round(data.confidence * 100) : null;
    answerEl.hidden = false;
    answerEl.appendChild(el("h2", { text: "Answer" }));
    answerEl.appendChild(text);
    if (conf !== null) answerEl.appendChild(el("p", { className: "confidence", text: "Confidence " + conf + "%" +
      (data.message ? " \u2014 " + data.message : "") }));
    answerEl.appendChild(el("h2", { className: "sources-title", text: "Sources" }));
    sources.forEach(function (hit, i) {
      var n = i + 1, cited = byCited[n] || [];
      var spans = cited.map(function (st) { return [st.char_start - hit.citation.char_start, st.char_end - hit.citation.char_start]; });
      var paras = cited.map(function (st) { return st.paragraph; }).filter(function (x) { return typeof x === "number"; });
      results.appendChild(card(hit, { number: n, id: "source-" + n, sourceLabel: true, cited: spans, paragraphs: paras }));
    });
  }

  /* ---------- running a query ---------- */
  function run(s) {
    if (inflight) inflight.abort();
    if (!s.q) {
      clearResults();
      timelineEl.hidden = true;               // its bars would filter a search that is no longer there
      showState("empty", "Type something to search for.",
                "Enter a question, some words, or a \"quoted phrase\", then press Enter.");
      return Promise.resolve();
    }
    var params = new URLSearchParams({ q: s.q });
    ["author", "section", "from", "to"].forEach(function (k) { if (s[k]) params.set(k, s[k]); });
    if (s.nodates) params.set("dates_from_query", "false");
    var ctl = new AbortController();
    loadTimeline(params, ctl.signal);
    var path;
    if (s.mode === "ask") { path = "/ask?" + params.toString(); }
    else {
      params.set("k", String(SEARCH_K));
      if (s.sort) params.set("sort", s.sort);
      path = "/search?" + params.toString();
    }
    inflight = ctl;
    results.setAttribute("aria-busy", "true");
    showState("loading", s.mode === "ask" ? "Finding an answer\u2026" : "Searching\u2026", null);
    return api(path, ctl.signal).then(function (data) {
      if (ctl !== inflight) return;
      (s.mode === "ask" ? renderAsk : renderSearch)(data, s);
      renderApplied(data.applied_filters, s);
    }, function (err) {
      if (ctl !== inflight || (err && err.name === "AbortError")) return;
      clearResults();
      if (err.status === 401) { askForToken(getToken() ? "That token was not accepted. Enter it again." : null, s); return; }
      if (err.status === 400 || err.status === 422) { showState("error", "The search could not run.", err.message); return; }
      showState("error", err.status ? "Server error (" + err.status + ")." : "The server did not answer.",
                err.message.replace(/[.\s]*$/, ".") + (err.status >= 500 ? " Try again in a moment." : ""));
    }).then(function () { if (ctl === inflight) { inflight = null; results.removeAttribute("aria-busy"); } });
  }

  function submit(push) {
    clearTimeout(filterTimer);                // a filter change still settling is part of this search
    var s = readForm();
    var url = urlFor(s);
    if (url !== location.pathname + location.search) {
      (push ? history.pushState : history.replaceState).call(history, null, "", url);
    }
    updateFilterCount();
    return run(s);
  }

  /* ---------- token ---------- */
  function askForToken(message, retry) {
    pending = retry || pending;
    tokenForm.hidden = false;
    if (message) $("token-message").textContent = message;
    showState("auth", "An access token is needed.", "Enter it above; it is kept for this browser tab only.");
    tokenInput.focus();
  }
  tokenForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var t = tokenInput.value.trim();
    if (!t) return;
    setToken(t);
    tokenInput.value = "";
    tokenForm.hidden = true;
    loadFacets();
    var s = pending || readForm();
    pending = null;
    if (s.q) run(s); else showState("idle", "Token saved for this tab. Type a question and press Enter.", null);
    q.focus();
  });

  /* ---------- facets ---------- */
  function loadFacets() {
    return api("/facets").then(function (f) {
      facetsLoaded = true;
      [["author", f.authors], ["section", f.sections]].forEach(function (pair) {
        var sel = selects[pair[0]], keep = sel.value;
        (pair[1] || []).forEach(function (v) { ensureOption(sel, v); });
        sel.value = keep;
      });
      ["from", "to"].forEach(function (k) {
        if (f.published_min) dates[k].min = f.published_min;
        if (f.published_max) dates[k].max = f.published_max;
      });
    }, function (err) {
      if (err.status === 401) askForToken(getToken() ? "That token was not accepted. Enter it again." : null, null);
      // Otherwise the filters stay as typed; the search itself reports the error.
    });
  }

  /* ---------- wiring ---------- */
  form.addEventListener("submit", function (e) { e.preventDefault(); submit(true); });
  Array.prototype.forEach.call(form.querySelectorAll('input[name="mode"]'), function (r) {
    r.addEventListener("change", function () { setMode(currentMode()); if (q.value.trim()) submit(true); });
  });
  q.addEventListener("input", function () { noDates = ""; });   // new words: read their dates again
  q.addEventListener("paste", function (e) {
    var pasted = ((e.clipboardData && e.clipboardData.getData("text")) || "").length;
    var room = q.maxLength - q.value.length + Math.abs((q.selectionEnd || 0) - (q.selectionStart || 0));
    if (q.maxLength > 0 && pasted > room) {
      showToast("A query holds at most " + q.maxLength.toLocaleString("en") + " characters; the rest of the paste was cut.");
    }
  });
  // A filter searches once it settles: arrow keys through a list, or a date typed digit by digit (0002-01-02,
  // 0020-..., 2024-...), would each run a search and leave a history entry.
  var filterTimer = null;
  function applyFilters() {                   // with words to search: search; without: just keep the URL right
    if (q.value.trim()) submit(true); else history.replaceState(null, "", urlFor(readForm()));
  }
  function filterChanged() {
    updateFilterCount();
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilters, 400);
  }
  [selects.author, selects.section, sortSel].forEach(function (c) { c.addEventListener("change", filterChanged); });
  [dates.from, dates.to].forEach(function (d) {
    d.addEventListener("change", function () { if (!d.value || d.value.slice(0, 4) >= "1000") filterChanged(); });
  });
  $("clear-filters").addEventListener("click", function () {
    selects.author.value = ""; selects.section.value = ""; dates.from.value = ""; dates.to.value = "";
    sortSel.value = "relevance";
    updateFilterCount();
    applyFilters();
  });
  window.addEventListener("popstate", function () {
    clearTimeout(filterTimer);
    var s = stateFromUrl(); writeForm(s);
    if (s.q) run(s); else { clearResults(); timelineEl.hidden = true; showState("idle", "Type a question or words and press Enter.", null); }
  });

  var initial = stateFromUrl();
  writeForm(initial);
  loadFacets().then(function () {
    if (initial.q && tokenForm.hidden) run(initial);
    else if (initial.q) pending = initial;
  });
  if (!initial.q) q.focus();
  window.edsearch = { run: run, readForm: readForm, facetsLoaded: function () { return facetsLoaded; } };
})();
