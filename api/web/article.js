/* edsearch article page. Server-rendered when the server has no token (or got one); otherwise the server sends
   a shell (#article-root[data-shell]) and this script fetches the article JSON with the tab's token. */
"use strict";
(function () {
  var el = window.edsearch.el;

  // "Back to search" returns to the results page the reader came from (its URL holds the query).
  var back = document.getElementById("back");
  if (back && document.referrer) {
    try {
      var ref = new URL(document.referrer);
      if (ref.origin === location.origin && ref.pathname === "/") back.href = ref.pathname + ref.search;
    } catch (e) {}
  }

  function cited() {
    var p = new URLSearchParams(location.search).get("p") || "";
    var m = /^\s*(\d{1,6})\s*(?:[-\u2013,]\s*(\d{1,6})\s*)?$/.exec(p);
    if (!m) return [];
    var lo = +m[1], hi = m[2] ? +m[2] : lo;
    if (hi < lo || hi - lo > 1000) hi = lo;
    var out = [];
    for (var i = lo; i <= hi; i++) out.push(i);
    return out;
  }

  function scrollToCited() {
    var target = location.hash ? document.getElementById(location.hash.slice(1)) : document.querySelector(".para.cited");
    if (target) target.scrollIntoView({ block: "center" });
  }

  function render(root, a) {
    var want = cited();
    var link = "/articles/" + encodeURIComponent(a.id);
    var meta = [a.author, a.published, a.section, a.publication].filter(Boolean).join(" \u00b7 ");
    var article = el("article", { className: "article", "data-article-id": a.id }, [
      el("h1", { text: a.title }), meta ? el("p", { className: "meta", text: meta }) : null,
      a.url ? el("p", { className: "meta" }, [el("a", { href: a.url, rel: "noopener noreferrer", text: "Original article \u2197" })]) : null
    ]);
    var valid = want.filter(function (n) { return n >= 1 && n <= a.paragraphs.length; });
    if (valid.length) {
      var ref = valid.length === 1 ? "para " + valid[0] : "paras " + valid[0] + "\u2013" + valid[valid.length - 1];
      article.appendChild(el("p", { className: "cited-note" }, ["Highlighted: the cited passage, ",
        el("a", { href: "#p" + valid[0], text: ref }), "."]));
    }
    var box = el("div", { className: "paragraphs" });
    a.paragraphs.forEach(function (p) {
      var on = want.indexOf(p.number) >= 0;
      var attrs = { id: "p" + p.number, className: on ? "para cited" : "para", "data-para": String(p.number) };
      if (on) attrs["aria-current"] = "true";
      box.appendChild(el("p", attrs, [
        el("a", { className: "pnum", href: link + "?p=" + p.number + "#p" + p.number, "aria-label": "Paragraph " + p.number, text: String(p.number) }),
        el("span", { className: "ptext", text: p.text })
      ]));
    });
    article.appendChild(box);
    root.textContent = "";
    root.appendChild(article);
    document.title = a.title + " \u2014 edsearch";
  }

  function fail(root, title, message) {
    root.textContent = "";
    root.appendChild(el("section", { className: "state state-error", role: "alert" }, [
      el("h1", { text: title }), el("p", { text: message }), el("p", {}, [el("a", { href: "/", text: "Search the archive" })])
    ]));
  }

  var root = document.getElementById("article-root");
  if (!root || !root.hasAttribute("data-shell")) { scrollToCited(); return; }

  var token = window.edsearch.getToken();
  var headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = "Bearer " + token;
  fetch(location.pathname, { headers: headers }).then(function (resp) {
    return resp.json().catch(function () { return null; }).then(function (data) {
      if (resp.ok && data) { render(root, data); scrollToCited(); return; }
      var err = (data && data.error) || {};
      if (resp.status === 401) {
        fail(root, "Access token needed", "Open the search page, enter the access token, then open this article again.");
      } else {
        fail(root, resp.status === 404 ? "Article not found" : "Server error (" + resp.status + ")", err.message || "The article could not be loaded.");
      }
    });
  }, function () { fail(root, "The server did not answer", "Check your connection and reload the page."); });
})();
