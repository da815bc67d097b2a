// audiosift's driver for GnuSpeech (an articulatory synthesizer) compiled to WebAssembly: one JSON
// request a line on stdin, one answer a line on stdout ("ok", or "error <why>"), so one process
// serves a whole training run. Usage: node gnuspeech_driver.mjs PACKAGE_DIR
// A request: {"text", "output" (a WAV path), "voice" (a preset), "voice_settings" and "settings"
// (lines of the preset's voice file and of the control model to change)}.
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { writeFileSync } from 'node:fs'

const DATA = '/data/en' // where the module's embedded files sit in its virtual file system
const PRESETS = ['male', 'female', 'large_child', 'small_child', 'baby']

const { default: initialize } = await import(pathToFileURL(`${process.argv[2]}/wasm/gnuspeech.js`).href)
const gnuspeech = await initialize()
const read = (name) => gnuspeech.FS.readFile(`${DATA}/${name}`, { encoding: 'utf8' })
const controlModel = read('trm_control_model.txt')
const presets = Object.fromEntries(PRESETS.map((name) => [name, read(`voice_${name}.txt`)]))

// Replace the `key = value` line of a settings file; an unknown key is an error, not ignored.
function changed(text, settings) {
  for (const [key, value] of Object.entries(settings ?? {})) {
    const line = new RegExp(`^${key}\\s*=.*$`, 'm')
    if (!/^[a-z_0-9]+$/.test(key) || !line.test(text)) throw new Error(`no setting ${key}`)
    text = text.replace(line, `${key} = ${Number(value)}`)
  }
  return text
}

function cString(text) {
  const bytes = new TextEncoder().encode(text + '\0')
  const address = gnuspeech._malloc(bytes.length)
  gnuspeech.HEAPU8.set(bytes, address)
  return address
}

function speak(request) {
  if (!(request.voice in presets)) throw new Error(`unknown voice ${request.voice}`)
  gnuspeech.FS.writeFile(`${DATA}/voice_audiosift.txt`, changed(presets[request.voice], request.voice_settings))
  const model = changed(controlModel.replace(/^voice_name\s*=.*$/m, 'voice_name = audiosift'), request.settings)
  gnuspeech.FS.writeFile(`${DATA}/trm_control_model.txt`, model)
  const args = [request.text, '/tmp/speech.wav', DATA, '/tmp/parameters.txt'].map(cString)
  try {
    gnuspeech._GnuSpeech_synthesizeToFile(...args, 0)
  } finally {
    args.forEach((address) => gnuspeech._free(address))
  }
  writeFileSync(request.output, gnuspeech.FS.readFile('/tmp/speech.wav'))
}

for await (const line of createInterface({ input: process.stdin })) {
  try {
    speak(JSON.parse(line))
    process.stdout.write('ok\n')
  } catch (error) {
    process.stdout.write(`error ${String(error?.message ?? error).replace(/\s+/g, ' ')}\n`)
  }
}
