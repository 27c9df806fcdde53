// The serial console of one VM: xterm.js over the API's console WebSocket (binary both ways; the server replays the
// last 64 KiB of output first, so a fresh page shows what came before).
import { streamUrl } from "./api.js";

export class VmConsole {
  /** `element` holds the terminal; `idleMessage` takes its place while there is nothing to show in it. */
  constructor(element, status, idleMessage) {
    this.element = element;
    this.status = status;
    this.idleMessage = idleMessage;
    this.terminal = null;
    this.socket = null;
  }

  /** Opens the terminal (once) and connects to the VM's console unless already connected. */
  connect(vmId) {
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return;
    this.showTerminal(true); // before opening it: xterm measures its box, and a hidden one has no size
    this.ensureTerminal();
    const socket = new WebSocket(streamUrl(`vms/${encodeURIComponent(vmId)}/console`, location.protocol === "https:" ? "wss:" : "ws:"));
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.status.textContent = "Connecting…";
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.status.textContent = "Connected: type into the terminal to send keys to the guest.";
    });
    socket.addEventListener("message", (e) =>
      this.terminal.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data)));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      // Opened then closed: the VM stopped; the terminal keeps its last output, which is gone from the VMM.
      // Never opened: the daemon refused, so the terminal never showed anything: say so in its place.
      if (opened) {
        this.status.textContent = "Disconnected: the VM stopped.";
      } else {
        this.closeTerminal();
        this.status.textContent = "";
        this.showIdle("The console is not available.");
      }
    });
  }

  /**
   * The VM does not run: a message in the console's place instead of an empty black box, unless the terminal still
   * shows what the VM printed before it stopped on this page.
   */
  idle() {
    if (!this.terminal) this.showIdle("The VM is not running: start it to see its console.");
  }

  showIdle(message) {
    this.idleMessage.textContent = message;
    this.showTerminal(false);
  }

  showTerminal(shown) {
    this.element.hidden = !shown;
    this.idleMessage.hidden = shown;
  }

  ensureTerminal() {
    if (this.terminal) return;
    this.terminal = new window.Terminal({ convertEol: true, cursorBlink: true, rows: 24, scrollback: 5000 });
    const fit = new window.FitAddon.FitAddon();
    this.terminal.loadAddon(fit);
    this.terminal.open(this.element);
    fit.fit();
    this.resize = () => fit.fit();
    window.addEventListener("resize", this.resize);
    const encoder = new TextEncoder();
    this.terminal.onData((data) => {
      if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(encoder.encode(data));
    });
  }

  closeTerminal() {
    if (this.resize) window.removeEventListener("resize", this.resize);
    this.resize = null;
    this.terminal?.dispose();
    this.terminal = null;
    this.element.replaceChildren();
  }

  /** Closes the socket and the terminal and hides both the terminal and the message (when leaving the VM's page). */
  dispose() {
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.closeTerminal();
    this.element.hidden = true;
    this.idleMessage.hidden = true;
    this.status.textContent = "";
  }
}
