package audio

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWAV(t *testing.T) {
	s, f, ok := Duration(WAV(10, 16000))
	assert.True(t, ok)
	assert.Equal(t, "wav", f)
	assert.InDelta(t, 10, s, 1e-9)
	cut := WAV(10, 16000)[:44+16000] // a stream cut short: what is there counts
	s, _, ok = Duration(cut)
	assert.True(t, ok)
	assert.InDelta(t, 0.5, s, 1e-9)
	_, _, ok = Duration(WAV(1, 8000)[:30]) // no data chunk
	assert.False(t, ok)
}

// flac makes a FLAC header whose STREAMINFO says total samples at rate.
func flac(rate uint32, total uint64) []byte {
	b := []byte("fLaC")
	b = append(b, 0x80, 0, 0, 34) // last block, STREAMINFO, 34 bytes
	si := make([]byte, 34)
	si[10] = byte(rate >> 12)
	si[11] = byte(rate >> 4)
	si[12] = byte(rate<<4) | 0x02 // two channels...
	si[13] = byte(total>>32) & 0x0f
	binary.BigEndian.PutUint32(si[14:], uint32(total))
	return append(b, si...)
}

func TestFLAC(t *testing.T) {
	s, f, ok := Duration(flac(44100, 44100*75))
	assert.True(t, ok)
	assert.Equal(t, "flac", f)
	assert.InDelta(t, 75, s, 1e-9)
	_, _, ok = Duration(flac(44100, 0)) // unknown total
	assert.False(t, ok)
}

// mp3 makes an MPEG-1 layer III file of frames frames at 128 kbit/s, 44.1 kHz,
// stereo, with an ID3v2 tag and, with xing, an Info frame that counts them.
func mp3(frames int, xing bool) []byte {
	b := []byte{'I', 'D', '3', 4, 0, 0, 0, 0, 0, 20}
	b = append(b, make([]byte, 20)...)
	hdr := []byte{0xff, 0xfb, 0x90, 0x00} // MPEG-1, layer III, 128 kbit/s, 44.1 kHz, stereo
	size := 144 * 128000 / 44100          // 417 bytes a frame
	if xing {
		f := make([]byte, size)
		copy(f, hdr)
		copy(f[4+32:], "Info")
		binary.BigEndian.PutUint32(f[4+32+4:], 1)
		binary.BigEndian.PutUint32(f[4+32+8:], uint32(frames))
		b = append(b, f...)
	}
	for range frames {
		f := make([]byte, size)
		copy(f, hdr)
		b = append(b, f...)
	}
	return b
}

func TestMP3(t *testing.T) {
	s, f, ok := Duration(mp3(1000, true))
	assert.True(t, ok)
	assert.Equal(t, "mp3", f)
	assert.InDelta(t, 1000*1152/44100.0, s, 1e-9, "the Info frame's count")
	s, _, ok = Duration(mp3(1000, false))
	assert.True(t, ok)
	assert.InDelta(t, 1000*1152/44100.0, s, 0.1, "constant bit rate: size over rate")
	_, _, ok = Duration([]byte("not audio at all, just text"))
	assert.False(t, ok)
}

func TestFormatOf(t *testing.T) {
	assert.Equal(t, "wav", FormatOf("a/b/Talk.WAV"))
	assert.Equal(t, "m4a", FormatOf("x.m4a"))
	assert.Equal(t, "", FormatOf("x.srt"))
	assert.Equal(t, "", FormatOf("noext"))
}

// FuzzDuration: any bytes, with or without a real header in front, give a
// finite, non-negative duration or none, and never a panic.
func FuzzDuration(f *testing.F) {
	f.Add(WAV(1, 8000))
	f.Add(flac(48000, 480000))
	f.Add(mp3(20, true))
	f.Add(mp3(20, false))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Add(OggOpus(1))
	f.Add(oggVorbis(22050, 22050))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, format, ok := Duration(data)
		if !ok {
			return
		}
		if !(s >= 0) || s > 1e12 {
			t.Fatalf("%s: duration %v", format, s)
		}
	})
}

// oggVorbis is an Ogg Vorbis file's first page (the identification header at
// rate) and a last page whose granule position is samples.
func oggVorbis(rate uint32, samples uint64) []byte {
	id := []byte("\x01vorbis\x00\x00\x00\x00\x01")
	id = binary.LittleEndian.AppendUint32(id, rate)
	id = append(id, make([]byte, 4*3+2)...) // bit rates, block sizes, framing
	out := oggPage(nil, 0x02, 0, 0, [][]byte{id})
	return oggPage(out, 0x04, samples, 1, [][]byte{make([]byte, 100)})
}

// TestOgg: an Ogg file's duration is its last granule position over the
// identification header's rate (Vorbis), or over 48 kHz less the pre-skip
// (Opus); espeak-ng's 2.94 s at 22,050 Hz read 3.89 s from its size.
func TestOgg(t *testing.T) {
	s, f, ok := Duration(oggVorbis(22050, 64827))
	require.True(t, ok)
	assert.Equal(t, "ogg", f)
	assert.InDelta(t, 2.94, s, 1e-9)
	s, f, ok = Duration(OggOpus(2.94))
	require.True(t, ok)
	assert.Equal(t, "ogg", f)
	assert.InDelta(t, 2.94, s, 1e-9, "48 kHz granules less the pre-skip")
	_, _, ok = Duration([]byte("OggS\x00\x02"))
	assert.False(t, ok, "a torn page")
}

// TestSilentFilesAreTheirFormat: the simulator's speech is, byte for byte, the
// format it is labelled, and as long as asked.
func TestSilentFilesAreTheirFormat(t *testing.T) {
	for _, format := range []string{"wav", "mp3", "flac", "ogg", "mulaw"} {
		data, ct := Silent(format, 2.5, 48000)
		require.NotEmpty(t, data, format)
		assert.NotEmpty(t, ct, format)
		want := format
		if format == "mulaw" {
			want = "wav" // G.711 µ-law in a WAV container
		}
		assert.Equal(t, want, Sniff(data), format)
		s, _, ok := Duration(data)
		require.True(t, ok, format)
		assert.InDelta(t, 2.5, s, 0.025, format) // mp3: whole frames of 24 ms
	}
	_, ct := Silent("mp3", 1, 48000)
	assert.Equal(t, "audio/mpeg", ct, "mp3's registered type")
	data, _ := Silent("srt", 1, 48000)
	assert.Nil(t, data, "not a format Groq's speech answers")
}

// TestSniff: the magic bytes of every format Groq takes, and not a text file
// named .wav.
func TestSniff(t *testing.T) {
	for want, data := range map[string][]byte{
		"webm": []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81"),
		"mp4":  []byte("\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00"),
		"mpeg": []byte("\x00\x00\x01\xba\x44\x00\x04\x00"),
		"flac": flac(44100, 44100),
		"mp3":  mp3(2, false),
		"wav":  WAV(1, 8000),
		"ogg":  OggOpus(1),
		"":     []byte("this is a text file named talk.wav\n"),
	} {
		assert.Equal(t, want, Sniff(data), "%q", data[:min(8, len(data))])
	}
}

// TestDurationAtReadsTheEnds: DurationAt, which reads a file's first and last 64
// KiB only, says what Duration says of the whole file, for every format, small
// and large (past the two ends), with an ID3v1 tag and a WAV streamed without a
// size; and declines an MP3 whose ID3v2 tag runs past the start it reads.
func TestDurationAtReadsTheEnds(t *testing.T) {
	big := func(b []byte) []byte { // padding after the audio: a larger file, same header
		return append(b, make([]byte, 300<<10)...)
	}
	tagged := append(mp3(3000, false), append([]byte("TAG"), make([]byte, 125)...)...)
	streamed := WAV(5, 48_000)
	binary.LittleEndian.PutUint32(streamed[40:], 0xffffffff) // a data size past the end
	files := map[string][]byte{
		"wav": WAV(10, 48_000), "wav streamed": streamed, "flac": FLAC(20, 16_000), "mp3 info": mp3(3000, true),
		"mp3 cbr": mp3(3000, false), "mp3 id3v1": tagged, "ogg vorbis": oggVorbis(22050, 64827), "ogg opus": OggOpus(2.94),
		"mp3 small": MP3(1), "ogg opus padded": big(OggOpus(2.94)), "flac padded": big(FLAC(2, 16_000)),
	}
	for name, data := range files {
		want, wf, wok := Duration(data)
		got, gf, gok := DurationAt(bytes.NewReader(data), int64(len(data)))
		assert.Equal(t, wok, gok, name)
		assert.Equal(t, wf, gf, name)
		assert.InDelta(t, want, got, 1e-9, "%s (%d bytes)", name, len(data))
	}
	assert.Greater(t, len(files["mp3 cbr"]), 2*edgeBytes, "a file past the two ends")
	cover := append([]byte{'I', 'D', '3', 3, 0, 0, 0, 0x08, 0, 0}, make([]byte, 128<<10)...) // a 128 KiB tag
	cover = append(cover, mp3(3000, false)...)
	_, _, ok := DurationAt(bytes.NewReader(cover), int64(len(cover)))
	assert.False(t, ok, "the first frame lies past the start read")
}
