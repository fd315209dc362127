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
  const problems = JSON.parse(area.dataset.problems || "{}");
  Object.keys(problems).forEach(function (line) {
    const index = Number(line) - 1;
    if (index < 0 || index >= editor.lineCount()) return;
    const mark = document.createElement("span");
    mark.className = "problem-mark";
    mark.textContent = "●";
    mark.title = problems[line].join("\n");
    editor.setGutterMarker(index, "problems", mark);
    editor.addLineClass(index, "background", "problem-line");
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
