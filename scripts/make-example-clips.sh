#!/usr/bin/env bash
# Regenerates the example clips in examples/clips (checked in, so the demo needs nothing at run time):
# espeak-ng keywords from the Speech Commands vocabulary, a sentence, a tone and noise, 16 kHz mono.
set -euo pipefail
out="$(dirname "$0")/../examples/clips"
mkdir -p "$out"
for word in yes no stop go left marvin; do
  espeak-ng -v en -s 140 -w "/tmp/as-$word.wav" "$word"
  sox "/tmp/as-$word.wav" -r 16000 -c 1 -b 16 "$out/$word.wav" pad 0.1 0.1 trim 0 1
  rm -f "/tmp/as-$word.wav"
done
espeak-ng -v en -s 150 -w /tmp/as-sentence.wav "I would like to pay my electricity bill using my card"
sox /tmp/as-sentence.wav -r 16000 -c 1 -b 16 "$out/sentence.wav" && rm -f /tmp/as-sentence.wav
sox -n -r 16000 -c 1 -b 16 "$out/tone-440hz.wav" synth 1 sine 440 vol 0.5
sox -n -r 16000 -c 1 -b 16 "$out/noise.wav" synth 1 whitenoise vol 0.3
