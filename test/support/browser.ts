export { ScriptedBrowser, type Send } from '../../simulator/scripted-browser.js';
