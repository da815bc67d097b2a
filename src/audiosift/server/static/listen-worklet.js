// AudioWorklet processor for Listen mode: gathers the microphone's 128-frame float blocks into
// messages of `samples` mono int16 (about 0.1 s) and posts each to the page, which sends it on
// the WebSocket. The page's AudioContext runs at the device's rate; the server resamples.
"use strict";

class PcmSender extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.samples;
    this.buffer = new Int16Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];  // the node down-mixes to one channel
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        const x = Math.max(-1, Math.min(1, channel[i]));
        this.buffer[this.filled++] = Math.round(x < 0 ? x * 32768 : x * 32767);
        if (this.filled === this.size) {
          this.port.postMessage(this.buffer.buffer, [this.buffer.buffer]);
          this.buffer = new Int16Array(this.size);
          this.filled = 0;
        }
      }
    }
    return true;  // keep running until the page disconnects the node
  }
}

registerProcessor("pcm-sender", PcmSender);
