package audio

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// Silent is a silent file of the given seconds in format (wav, mp3, flac, ogg or
// mulaw: what Groq's speech endpoint answers) at rate samples per second (mp3 and
// ogg are always 48 kHz), and its content type; nil for another format. Each
// is a valid file of its format, that Duration (or, for mulaw, its WAV header)
// reads back.
func Silent(format string, seconds float64, rate int) ([]byte, string) {
	switch format {
	case "wav":
		return WAV(seconds, rate), "audio/wav"
	case "mulaw":
		return MuLawWAV(seconds, rate), "audio/basic"
	case "mp3":
		return MP3(seconds), "audio/mpeg"
	case "flac":
		return FLAC(seconds, rate), "audio/flac"
	case "ogg":
		return OggOpus(seconds), "audio/ogg"
	}
	return nil, ""
}

// MuLawWAV is a silent 8-bit mono G.711 µ-law WAV file (format 7).
func MuLawWAV(seconds float64, rate int) []byte {
	n := int(seconds * float64(rate))
	data := make([]byte, 44+n)
	copy(data, "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 7) // µ-law
	binary.LittleEndian.PutUint16(data[22:], 1)
	binary.LittleEndian.PutUint32(data[24:], uint32(rate))
	binary.LittleEndian.PutUint32(data[28:], uint32(rate))
	binary.LittleEndian.PutUint16(data[32:], 1)
	binary.LittleEndian.PutUint16(data[34:], 8)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(n))
	for i := 44; i < len(data); i++ {
		data[i] = 0xff // µ-law's zero
	}
	return data
}

// MP3 is a silent MPEG-1 layer III file: mono, 48 kHz, 128 kbit/s, whole frames
// of 1152 samples (24 ms, 384 bytes; all-zero side information is silence).
func MP3(seconds float64) []byte {
	frames := int(math.Ceil(seconds * 48000 / 1152))
	out := make([]byte, 384*frames)
	for f := range frames {
		copy(out[384*f:], []byte{0xff, 0xfb, 0x94, 0xc0})
	}
	return out
}

// FLAC is a silent 16-bit mono FLAC file: STREAMINFO, then frames of 4096
// samples, each one CONSTANT subframe of 0.
func FLAC(seconds float64, rate int) []byte {
	const block = 4096
	total := int(seconds * float64(rate))
	out := []byte("fLaC")
	out = append(out, 0x80, 0, 0, 34) // the last metadata block, STREAMINFO, 34 bytes
	si := make([]byte, 34)
	binary.BigEndian.PutUint16(si[0:], block)
	binary.BigEndian.PutUint16(si[2:], block)
	// The sample rate (20 bits), channels - 1 (3 bits: mono), bits per sample - 1
	// (5 bits: 15), total samples (36 bits).
	si[10], si[11], si[12] = byte(rate>>12), byte(rate>>4), byte(rate<<4)
	si[13] = 15<<4 | byte(uint64(total)>>32)&0x0f
	binary.BigEndian.PutUint32(si[14:], uint32(total))
	out = append(out, si...)
	for n, left := 0, total; left > 0; n++ {
		size := min(block, left)
		left -= size
		out = append(out, flacFrame(n, size)...)
	}
	return out
}

// flacFrame is frame n of size samples (the sample rate is STREAMINFO's). The
// frame number is coded as UTF-8 is, which holds for the first 55,296 frames
// (an hour and a quarter at 48 kHz), more than a simulator's speech takes.
func flacFrame(n, size int) []byte {
	h := []byte{0xff, 0xf8, 0x70, 0x08} // fixed block size; size in 16 bits at the end; rate from STREAMINFO; mono, 16 bits
	h = utf8.AppendRune(h, rune(n))
	h = append(h, byte((size-1)>>8), byte(size-1))
	h = append(h, byte(crcMSB(h, 8, 0x07)))
	h = append(h, 0x00, 0x00, 0x00) // CONSTANT subframe (0b0_000000_0), its 16-bit value 0
	c := uint16(crcMSB(h, 16, 0x8005))
	return append(h, byte(c>>8), byte(c))
}

// crcMSB is a CRC of width bits (8 to 32) with polynomial poly, fed most
// significant bit first, not reflected, from zero and not inverted: FLAC's frame
// header CRC-8 (x^8+x^2+x+1, 0x07) and frame CRC-16 (x^16+x^15+x^2+1, 0x8005),
// and Ogg's page CRC-32 (0x04c11db7). Bits shifted past width never reach back
// below it, so one mask at the end keeps the remainder.
func crcMSB(b []byte, width uint, poly uint32) uint32 {
	top := uint32(1) << (width - 1)
	var c uint32
	for _, x := range b {
		c ^= uint32(x) << (width - 8)
		for range 8 {
			if c&top != 0 {
				c = c<<1 ^ poly
			} else {
				c <<= 1
			}
		}
	}
	return c & (top<<1 - 1)
}

// OggOpus is a silent mono Ogg Opus file: OpusHead (pre-skip 312), OpusTags,
// then 20 ms silent CELT packets, up to 255 a page; each page's granule
// position counts the 48 kHz samples so far, pre-skip included.
func OggOpus(seconds float64) []byte {
	const preSkip, perPacket = 312, 960
	head := []byte("OpusHead\x01\x01")
	head = binary.LittleEndian.AppendUint16(head, preSkip)
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = append(head, 0, 0, 0) // output gain 0, mapping family 0
	tags := append([]byte("OpusTags"), 7, 0, 0, 0)
	tags = append(tags, "groqkit"...)
	tags = append(tags, 0, 0, 0, 0)
	out := oggPage(nil, 0x02, 0, 0, [][]byte{head})
	out = oggPage(out, 0, 0, 1, [][]byte{tags})
	packets := int(math.Ceil((seconds*48000 + preSkip) / perPacket)) // the pre-skip is decoded, not played
	granule := uint64(preSkip)
	for seq := uint32(2); packets > 0; seq++ {
		n := min(packets, 255)
		packets -= n
		granule += uint64(n * perPacket)
		if packets == 0 { // the last page ends the stream at the exact length
			granule = uint64(preSkip) + uint64(seconds*48000)
		}
		page := make([][]byte, n)
		for i := range page {
			page[i] = []byte{0xf8, 0xff, 0xfe} // CELT, 20 ms, mono: silence
		}
		flags := byte(0)
		if packets == 0 {
			flags = 0x04
		}
		out = oggPage(out, flags, granule, seq, page)
	}
	return out
}

// oggPage appends a page of packets (each under 255 bytes) to out, with its CRC.
func oggPage(out []byte, flags byte, granule uint64, seq uint32, packets [][]byte) []byte {
	start := len(out)
	out = append(out, "OggS"...)
	out = append(out, 0, flags)
	out = binary.LittleEndian.AppendUint64(out, granule)
	out = binary.LittleEndian.AppendUint32(out, 0x67726f71) // the stream's serial number
	out = binary.LittleEndian.AppendUint32(out, seq)
	out = append(out, 0, 0, 0, 0, byte(len(packets)))
	for _, p := range packets {
		out = append(out, byte(len(p)))
	}
	for _, p := range packets {
		out = append(out, p...)
	}
	binary.LittleEndian.PutUint32(out[start+22:], crcMSB(out[start:], 32, 0x04c11db7))
	return out
}
