// The code editor: CodeMirror 6 with a highlighter per language, swapped in
// place when the language changes.

import { EditorState, Compartment } from '@codemirror/state';
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import {
  StreamLanguage, syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput,
  indentUnit,
} from '@codemirror/language';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { python } from '@codemirror/lang-python';
import { javascript } from '@codemirror/lang-javascript';
import { c, cpp, java, csharp, kotlin } from '@codemirror/legacy-modes/mode/clike';
import { go } from '@codemirror/legacy-modes/mode/go';
import { rust } from '@codemirror/legacy-modes/mode/rust';
import { d } from '@codemirror/legacy-modes/mode/d';
import { fortran } from '@codemirror/legacy-modes/mode/fortran';
import { cobol } from '@codemirror/legacy-modes/mode/cobol';
import { pascal } from '@codemirror/legacy-modes/mode/pascal';
import { crystal } from '@codemirror/legacy-modes/mode/crystal';
import { groovy } from '@codemirror/legacy-modes/mode/groovy';
import { clojure } from '@codemirror/legacy-modes/mode/clojure';
import { shell } from '@codemirror/legacy-modes/mode/shell';
import { ruby } from '@codemirror/legacy-modes/mode/ruby';
import { perl } from '@codemirror/legacy-modes/mode/perl';
import { lua } from '@codemirror/legacy-modes/mode/lua';
import { tcl } from '@codemirror/legacy-modes/mode/tcl';
import { sqlite } from '@codemirror/legacy-modes/mode/sql';
import { brainfuck } from '@codemirror/legacy-modes/mode/brainfuck';
import { forth } from '@codemirror/legacy-modes/mode/forth';
import { oCaml } from '@codemirror/legacy-modes/mode/mllike';
import { erlang } from '@codemirror/legacy-modes/mode/erlang';
import { commonLisp } from '@codemirror/legacy-modes/mode/commonlisp';
import { scheme } from '@codemirror/legacy-modes/mode/scheme';
import { r } from '@codemirror/legacy-modes/mode/r';
import { coffeeScript } from '@codemirror/legacy-modes/mode/coffeescript';
import { verilog } from '@codemirror/legacy-modes/mode/verilog';
import { haskell } from '@codemirror/legacy-modes/mode/haskell';
import { octave } from '@codemirror/legacy-modes/mode/octave';

const legacy = (mode) => () => StreamLanguage.define(mode);

// Runtime name (runtimes.toml's `language`) to its highlighter. A language
// without one is edited as plain text.
const HIGHLIGHTERS = {
  python: python, pypy3: python,
  node: javascript, typescript: () => javascript({ typescript: true }),
  coffeescript: legacy(coffeeScript),
  c: legacy(c), cpp: legacy(cpp), java: legacy(java), csharp: legacy(csharp), kotlin: legacy(kotlin),
  go: legacy(go), rust: legacy(rust), d: legacy(d), fortran: legacy(fortran), cobol: legacy(cobol),
  pascal: legacy(pascal), crystal: legacy(crystal), groovy: legacy(groovy), clojure: legacy(clojure),
  bash: legacy(shell), dash: legacy(shell), ruby: legacy(ruby), elixir: legacy(ruby),
  perl: legacy(perl), raku: legacy(perl), lua: legacy(lua), tcl: legacy(tcl), sqlite3: legacy(sqlite),
  brainfuck: legacy(brainfuck), forth: legacy(forth), ocaml: legacy(oCaml), erlang: legacy(erlang),
  lisp: legacy(commonLisp), emacs: legacy(commonLisp), racket: legacy(scheme), scheme: legacy(scheme),
  rscript: legacy(r), iverilog: legacy(verilog), haskell: legacy(haskell), octave: legacy(octave),
};

function highlighter(language) {
  const make = HIGHLIGHTERS[language];
  return make ? make() : [];
}

/// An editor in `parent`; `onRun` is called on Ctrl+Enter (Cmd+Enter).
export function createEditor(parent, { onRun, label }) {
  const lang = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: '',
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), drawSelection(),
        indentOnInput(), bracketMatching(), highlightActiveLine(), highlightSelectionMatches(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        indentUnit.of('    '),
        keymap.of([
          { key: 'Mod-Enter', run: () => { onRun(); return true; } },
          ...defaultKeymap, ...historyKeymap, ...searchKeymap, indentWithTab,
        ]),
        lang.of([]),
        EditorView.contentAttributes.of({ 'data-testid': 'code', 'aria-label': label, 'aria-multiline': 'true' }),
        EditorView.theme({ '&': { height: '100%' }, '.cm-scroller': { fontFamily: 'var(--mono)' } }),
      ],
    }),
  });
  return {
    get code() { return view.state.doc.toString(); },
    set code(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    setLanguage(language) { view.dispatch({ effects: lang.reconfigure(highlighter(language)) }); },
    focus() { view.focus(); },
  };
}
