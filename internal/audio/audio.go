// Package audio reads how long an audio file plays from its header, for the
// formats whose header says it without decoding: WAV (RIFF), FLAC (STREAMINFO),
// MP3 (a Xing, Info or VBRI frame, else the first frame's constant bit rate) and
// Ogg Vorbis or Opus (the last page's granule position over the identification
// header's sample rate). The client charges a transcription its duration against
// ASH and ASD; groqtest does the same on the server's side. The readers take any
// bytes: they never panic and never read past the slice. Sniff tells the formats
// Groq takes apart by their first bytes, and encode.go writes silent files in
// the formats Groq's speech endpoint answers.
package audio

import (
	"bytes"
	"encoding/binary"
	"io"
	"path"
	"strings"
)

// Formats are the file extensions Groq's speech-to-text endpoints take.
var Formats = []string{"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm"}

// FormatOf is name's extension, lower case, when it is one of Formats ("" else).
func FormatOf(name string) string {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	for _, f := range Formats {
		if f == ext {
			return f
		}
	}
	return ""
}

// Sniff is the format data's first bytes announce, among those Groq takes:
// "wav" (RIFF/WAVE), "flac" (fLaC), "ogg" (OggS), "webm" (an EBML header, as
// Matroska), "mp4" (an ISO media ftyp box: mp4 and m4a), "mpeg" (an MPEG program
// stream pack), "mp3" (an ID3v2 tag or an MPEG audio frame sync), or "" (a text
// file named .wav is none of them).
func Sniff(data []byte) string {
	switch {
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WAVE":
		return "wav"
	case len(data) >= 4 && string(data[:4]) == "fLaC":
		return "flac"
	case len(data) >= 4 && string(data[:4]) == "OggS":
		return "ogg"
	case len(data) >= 4 && string(data[:4]) == "\x1a\x45\xdf\xa3":
		return "webm"
	case len(data) >= 8 && string(data[4:8]) == "ftyp":
		return "mp4"
	case len(data) >= 4 && string(data[:4]) == "\x00\x00\x01\xba":
		return "mpeg"
	case len(data) >= 3 && (string(data[:3]) == "ID3" || (data[0] == 0xff && data[1]&0xe0 == 0xe0)):
		return "mp3"
	}
	return ""
}

// Duration is how many seconds data plays, read from its header, and the format
// that header is (wav, flac, ogg or mp3); ok is false when data is none of them or
// its header does not say.
func Duration(data []byte) (seconds float64, format string, ok bool) {
	return duration(data, data, len(data))
}

// edgeBytes is how much of each end of a file DurationAt reads.
const edgeBytes = 64 << 10

// DurationAt is Duration for a file of size bytes read through r, without reading
// it whole: its first and last 64 KiB are enough for every header Duration reads.
// An error reading them is ok false.
func DurationAt(r io.ReaderAt, size int64) (seconds float64, format string, ok bool) {
	if size <= 2*edgeBytes {
		data := make([]byte, size)
		if _, err := r.ReadAt(data, 0); err != nil && err != io.EOF {
			return 0, "", false
		}
		return Duration(data)
	}
	ends := make([]byte, 2*edgeBytes)
	if _, err := r.ReadAt(ends[:edgeBytes], 0); err != nil {
		return 0, "", false
	}
	if _, err := r.ReadAt(ends[edgeBytes:], size-edgeBytes); err != nil && err != io.EOF {
		return 0, "", false
	}
	if head := ends[:edgeBytes]; string(head[:3]) == "ID3" {
		tag := 10 + (int(head[6]&0x7f)<<21 | int(head[7]&0x7f)<<14 | int(head[8]&0x7f)<<7 | int(head[9]&0x7f))
		if tag+4096+512 > edgeBytes { // the first frame may lie past the start read (cover art)
			return 0, "", false
		}
	}
	return duration(ends[:edgeBytes], ends, int(size))
}

// duration reads a file of size bytes from head (its start) and ends (its start,
// then its end: the file itself when it is whole).
func duration(head, ends []byte, size int) (seconds float64, format string, ok bool) {
	switch Sniff(head) {
	case "wav":
		s, ok := wavDuration(head, size)
		return s, "wav", ok
	case "flac":
		s, ok := flacDuration(head)
		return s, "flac", ok
	case "ogg":
		s, ok := oggDuration(ends, size)
		return s, "ogg", ok
	}
	if s, ok := mp3Duration(ends, size); ok {
		return s, "mp3", true
	}
	return 0, "", false
}

// oggDuration reads an Ogg Vorbis or Opus file: the granule position of the last
// page (its samples so far) over the sample rate of the identification header,
// the first packet. Opus counts at 48 kHz whatever the input's rate, and its
// first pre-skip samples are not played.
// data is the file, or its start and its end; size is the file's length.
func oggDuration(data []byte, size int) (float64, bool) {
	const pageHead = 27
	if len(data) < pageHead || data[26] == 0 {
		return 0, false
	}
	first := pageHead + int(data[26]) // the first packet, after the segment table
	if first+19 > len(data) {
		return 0, false
	}
	var rate, skip uint64
	switch id := data[first:]; {
	case string(id[:7]) == "\x01vorbis" && len(id) >= 16:
		rate = uint64(binary.LittleEndian.Uint32(id[12:16]))
	case string(id[:8]) == "OpusHead":
		rate, skip = 48000, uint64(binary.LittleEndian.Uint16(id[10:12]))
	default:
		return 0, false
	}
	last := bytes.LastIndex(data, []byte("OggS"))
	for last >= 0 && (last+pageHead > len(data) || data[last+4] != 0) { // a page header, version 0
		last = bytes.LastIndex(data[:last], []byte("OggS"))
	}
	if last < 0 || rate == 0 {
		return 0, false
	}
	granule := binary.LittleEndian.Uint64(data[last+6 : last+14])
	if granule == ^uint64(0) || granule <= skip { // -1: no packet ends on this page
		return 0, false
	}
	secs := float64(granule-skip) / float64(rate)
	if secs > float64(size) { // less than a byte a second: no codec is that thin, the header lies
		return 0, false
	}
	return secs, true
}

// wavDuration reads the fmt chunk's byte rate and the data chunk's size. A data
// size past the end of the file (a WAV written as a stream) counts what is there.
// data is the file or its start; fileSize is the file's length.
func wavDuration(data []byte, fileSize int) (float64, bool) {
	var byteRate uint32
	for off := 12; off+8 <= len(data); {
		id, size := string(data[off:off+4]), binary.LittleEndian.Uint32(data[off+4:off+8])
		body := off + 8
		switch id {
		case "fmt ":
			if body+12 > len(data) {
				return 0, false
			}
			byteRate = binary.LittleEndian.Uint32(data[body+8 : body+12])
		case "data":
			if byteRate == 0 {
				return 0, false
			}
			n := uint64(size)
			if rest := uint64(fileSize - body); n > rest {
				n = rest
			}
			return float64(n) / float64(byteRate), true
		}
		next := uint64(body) + uint64(size) + uint64(size&1) // chunks are padded to an even size
		if next > uint64(fileSize) {
			return 0, false
		}
		off = int(next)
	}
	return 0, false
}

// flacDuration reads STREAMINFO, the first metadata block: total samples over the
// sample rate. A stream that does not say its total (0) has no duration here.
func flacDuration(data []byte) (float64, bool) {
	const head = 4 + 4 // "fLaC", the block header
	if len(data) < head+18 || data[4]&0x7f != 0 {
		return 0, false
	}
	si := data[head:]
	rate := uint32(si[10])<<12 | uint32(si[11])<<4 | uint32(si[12])>>4
	total := uint64(si[13]&0x0f)<<32 | uint64(binary.BigEndian.Uint32(si[14:18]))
	if rate == 0 || total == 0 {
		return 0, false
	}
	return float64(total) / float64(rate), true
}

var (
	mp3Rates1 = [16]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0} // MPEG-1 layer III, kbit/s
	mp3Rates2 = [16]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0}     // MPEG-2 and 2.5 layer III
	mp3Freqs  = [3]int{44100, 48000, 32000}                                                  // MPEG-1; halved for 2, quartered for 2.5
)

// mp3Frame is what an MPEG audio layer III frame header says.
type mp3Frame struct {
	mpeg1     bool
	mono      bool
	kbps      int
	freq      int
	perFrame  int // samples per frame
	sideBytes int // side information after the header
}

// parseMP3Frame reads a frame header at b (4 bytes); ok is false when it is not one
// of layer III.
func parseMP3Frame(b []byte) (f mp3Frame, ok bool) {
	if len(b) < 4 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return f, false
	}
	version, layer := (b[1]>>3)&3, (b[1]>>1)&3
	rateIdx, freqIdx := b[2]>>4, (b[2]>>2)&3
	if version == 1 || layer != 1 || freqIdx == 3 { // reserved version, not layer III, reserved rate
		return f, false
	}
	f.mpeg1, f.mono = version == 3, b[3]>>6 == 3
	f.freq = mp3Freqs[freqIdx]
	f.kbps, f.perFrame = mp3Rates2[rateIdx], 576
	switch version {
	case 3:
		f.kbps, f.perFrame = mp3Rates1[rateIdx], 1152
	case 2:
		f.freq /= 2
	case 0:
		f.freq /= 4
	}
	switch {
	case f.mpeg1 && f.mono:
		f.sideBytes = 17
	case f.mpeg1:
		f.sideBytes = 32
	case f.mono:
		f.sideBytes = 9
	default:
		f.sideBytes = 17
	}
	return f, f.kbps > 0
}

// mp3Duration skips an ID3v2 tag, finds the first frame, and reads its Xing/Info
// or VBRI frame count; without one it divides the audio's size by the first
// frame's bit rate (exact for a constant bit rate). data is the file, or its start
// and its end; size is the file's length.
func mp3Duration(data []byte, size int) (float64, bool) {
	start := 0
	if len(data) >= 10 && string(data[:3]) == "ID3" {
		size := int(data[6]&0x7f)<<21 | int(data[7]&0x7f)<<14 | int(data[8]&0x7f)<<7 | int(data[9]&0x7f)
		start = 10 + size
		if data[5]&0x10 != 0 {
			start += 10 // a footer
		}
	}
	// The first frame: at the start, or after a little padding.
	limit := min(len(data)-4, start+4096)
	var f mp3Frame
	found := false
	for ; start >= 0 && start <= limit; start++ {
		if f, found = parseMP3Frame(data[start:]); found {
			break
		}
	}
	if !found {
		return 0, false
	}
	if frames, ok := mp3FrameCount(data[start:], f); ok && frames > 0 {
		return float64(frames) * float64(f.perFrame) / float64(f.freq), true
	}
	end, tagged := size, len(data)-128 >= start && bytes.Equal(data[len(data)-128:len(data)-125], []byte("TAG"))
	if tagged {
		end -= 128 // an ID3v1 tag
	}
	return float64(end-start) * 8 / float64(f.kbps*1000), true
}

// mp3FrameCount reads the frame count of a Xing or Info header (after the side
// information) or of a VBRI header (32 bytes after the frame header).
func mp3FrameCount(frame []byte, f mp3Frame) (uint32, bool) {
	x := 4 + f.sideBytes
	if len(frame) >= x+12 && (string(frame[x:x+4]) == "Xing" || string(frame[x:x+4]) == "Info") {
		if binary.BigEndian.Uint32(frame[x+4:x+8])&1 != 0 {
			return binary.BigEndian.Uint32(frame[x+8 : x+12]), true
		}
		return 0, false
	}
	const v = 4 + 32
	if len(frame) >= v+18 && string(frame[v:v+4]) == "VBRI" {
		return binary.BigEndian.Uint32(frame[v+14 : v+18]), true
	}
	return 0, false
}

// WAV makes a silent 16-bit mono PCM WAV file of the given seconds at rate
// samples per second: what tests and the simulator's speech endpoint send.
func WAV(seconds float64, rate int) []byte {
	n := int(seconds * float64(rate))
	data := make([]byte, 44+2*n)
	copy(data, "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1) // PCM
	binary.LittleEndian.PutUint16(data[22:], 1) // mono
	binary.LittleEndian.PutUint32(data[24:], uint32(rate))
	binary.LittleEndian.PutUint32(data[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	return data
}
