// The simulation worker: the page's own wasm, started in a Web Worker (one
// download, cached by the browser). Its `main` sees that it has no window
// and listens for jobs instead of mounting the app.
import init from "./prodsim-web.js";

init({ module_or_path: new URL("./prodsim-web_bg.wasm", import.meta.url) });
