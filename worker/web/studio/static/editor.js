// The editor: CodeMirror over the form's textarea (the form works without it), Jinja tags
// highlighted over HTML, TOML for trigger files, line numbers, and each problem the checks
// found marked at its line. The textarea is written back when the form is sent.
(function () {
  "use strict";
  const area = document.getElementById("body");
  if (!area || typeof CodeMirror === "undefined") return;
  CodeMirror.defineMode("ladder-jinja", function (config) {
    const jinja = {
      token: function (stream, state) {
        if (state.inTag) {
          if (stream.match(state.inTag)) { state.inTag = null; return "jinja-tag"; }
          if (stream.match(/^"(?:[^"\\]|\\.)*"|^'(?:[^'\\]|\\.)*'/)) return "string";
          if (stream.match(/^\d+(\.\d+)?/)) return "number";
          if (stream.match(/^(if|elif|else|endif|for|endfor|in|not|and|or|block|endblock|extends|include|set|macro|endmacro|call|endcall|import|from|as|with|without|context)\b/)) return "keyword";
          stream.next();
          return state.inTag === "#}" ? "comment" : "jinja";
        }
        if (stream.match("{{")) { state.inTag = "}}"; return "jinja-tag"; }
        if (stream.match("{%")) { state.inTag = "%}"; return "jinja-tag"; }
        if (stream.match("{#")) { state.inTag = "#}"; return "comment"; }
        while (stream.next() != null && !stream.match(/^\{[{%#]/, false)) { /* plain */ }
        return null;
      },
      startState: function () { return { inTag: null }; },
      copyState: function (state) { return { inTag: state.inTag }; },
    };
    return CodeMirror.overlayMode(CodeMirror.getMode(config, { name: "xml", htmlMode: true }), jinja);
  });
  const editor = CodeMirror.fromTextArea(area, {
    mode: { toml: "toml", css: "text/plain" }[area.dataset.mode] || "ladder-jinja",
    lineNumbers: true,
    lineWrapping: true,
    indentUnit: 2,
    gutters: ["CodeMirror-linenumbers", "problems"],
    readOnly: area.readOnly ? "nocursor" : false,
  });
  window.ladderEditor = editor;  // the browser tests and the problem links reach it here
  let marked = [];
  function mark(lines) {
    marked.forEach(function (index) {
      editor.setGutterMarker(index, "problems", null);
      editor.removeLineClass(index, "background", "problem-line");
    });
    marked = [];
    Object.keys(lines).forEach(function (line) {
      const index = Number(line) - 1;
      if (index < 0 || index >= editor.lineCount()) return;
      const dot = document.createElement("span");
      dot.className = "problem-mark";
      dot.textContent = "●";
      dot.title = lines[line].join("\n");
      editor.setGutterMarker(index, "problems", dot);
      editor.addLineClass(index, "background", "problem-line");
      marked.push(index);
    });
  }
  mark(JSON.parse(area.dataset.problems || "{}"));

  // Check as you type: the save's checks, a moment after the typing stops; nothing is saved.
  const live = document.getElementById("live-check");
  const form = document.getElementById("save-form");
  let timer = null;
  let asked = 0;
  editor.on("change", function () {
    clearTimeout(timer);
    if (live) live.textContent = "Checking when you pause…";
    timer = setTimeout(async function () {
      const mine = ++asked;
      const data = new FormData(form);
      data.set("body", editor.getValue());
      try {
        // From the origin: a page opened as http://user:password@host/ may not fetch a path.
        const answer = await fetch(location.origin + "/studio/check", { method: "POST", body: data });
        if (!answer.ok || mine !== asked) return;
        const found = await answer.json();
        mark(found.lines);
        if (live) {
          live.textContent = found.problems.length
            ? found.problems.length + " problem(s): " + found.problems.join(" · ")
            : "No problem found: this text passes every check.";
          live.className = found.problems.length ? "problems" : "clean";
        }
      } catch (error) { /* offline a moment: the save checks again */ }
    }, 1200);
  });
  document.querySelectorAll("a[data-line]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      const index = Number(link.dataset.line) - 1;
      editor.focus();
      editor.setCursor({ line: index, ch: 0 });
      editor.scrollIntoView({ line: index, ch: 0 }, 120);
    });
  });
})();
