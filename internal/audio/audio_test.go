package audio

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
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
