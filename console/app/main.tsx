/** The operator console's entry: mounts the app into the page the broker served. */
import { render } from 'preact';
import { App } from './components/App.js';
import { consoleMode } from './session.js';

render(<App mode={consoleMode()} />, document.getElementById('app')!);
