// The serial console of one VM: xterm.js over the API's console WebSocket (binary both ways; the server replays the
// last 64 KiB of output first, so a fresh page shows what came before).
import { streamUrl } from "./api.js";

export class VmConsole {
  constructor(element, status) {
    this.element = element;
    this.status = status;
    this.terminal = null;
    this.socket = null;
  }

  /** Opens the terminal (once) and connects to the VM's console unless already connected. */
  connect(vmId) {
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return;
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
      if (this.socket === socket) {
        this.socket = null;
        // Opened then closed: the VM stopped. Never opened: the daemon refused (the VM's console is not available).
        this.status.textContent = opened ? "Disconnected: the VM stopped." : "The console is not available.";
      }
    });
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

  /** Closes the socket and the terminal (when leaving the VM's page). */
  dispose() {
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    if (this.resize) window.removeEventListener("resize", this.resize);
    this.terminal?.dispose();
    this.terminal = null;
    this.element.replaceChildren();
    this.status.textContent = "";
  }
}
