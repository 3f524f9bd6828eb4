package runplot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// element is one SVG element as the tests read it.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parse reads the SVG with encoding/xml, failing on anything that is not
// well-formed XML, and returns its elements in document order.
func parse(t *testing.T, data []byte) []element {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var out []element
	var open []int // indexes in out of the elements open
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the SVG is not well-formed XML")
		switch tk := tok.(type) {
		case xml.StartElement:
			if len(open) == 0 {
				require.Empty(t, out, "one root element")
				require.Equal(t, "svg", tk.Name.Local)
				require.Equal(t, "http://www.w3.org/2000/svg", tk.Name.Space)
			}
			e := element{name: tk.Name.Local, attrs: map[string]string{}}
			for _, a := range tk.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			open = append(open, len(out))
			out = append(out, e)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				out[open[len(open)-1]].text += string(tk)
			}
		}
	}
	require.Empty(t, open)
	return out
}

// byClass is the elements whose class attribute is class.
func byClass(es []element, class string) []element {
	var out []element
	for _, e := range es {
		if e.attrs["class"] == class {
			out = append(out, e)
		}
	}
	return out
}

// points reads a polyline's points attribute.
func points(t *testing.T, e element) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, pair := range strings.Fields(e.attrs["points"]) {
		x, y, ok := strings.Cut(pair, ",")
		require.True(t, ok, pair)
		xf, err := strconv.ParseFloat(x, 64)
		require.NoError(t, err)
		yf, err := strconv.ParseFloat(y, 64)
		require.NoError(t, err)
		out = append(out, [2]float64{xf, yf})
	}
	return out
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func sample() Figure {
	var a, b []time.Duration
	for i := range 40 {
		a = append(a, ms(250*i)) // out of order below
		b = append(b, ms(100*i+50))
	}
	a[3], a[10] = a[10], a[3]
	return Figure{
		Title:    `burst 10 & RPM 600 <2 keys>`,
		Subtitle: "2 clients",
		Series: []Series{
			{Name: "groqkit", Admitted: a, Marks: []Mark{{ms(900), Refused}, {ms(100), Refused}}},
			{Name: "openai-go", Admitted: b, Marks: []Mark{{ms(400), Refused}, {ms(2000), Failed}, {ms(3000), Refused}}},
		},
		Curves: []Curve{Bucket("server: 10 + 10/s", 10, 10, 10*time.Second)},
	}
}

func TestWriteSVGSeriesCurvesMarks(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, sample().WriteSVG(&buf))
	es := parse(t, buf.Bytes())

	lines := byClass(es, "series")
	require.Len(t, lines, 2)
	for i, want := range []struct {
		name  string
		count int
	}{{"groqkit", 40}, {"openai-go", 40}} {
		assert.Equal(t, want.name, lines[i].attrs["data-series"])
		assert.Equal(t, strconv.Itoa(want.count), lines[i].attrs["data-count"])
		pts := points(t, lines[i])
		require.Len(t, pts, want.count+1, "the origin and one point per admission (few enough not to be thinned)")
		for j := 1; j < len(pts); j++ {
			assert.GreaterOrEqual(t, pts[j][0], pts[j-1][0], "%s: time runs forward at point %d", want.name, j)
			assert.Less(t, pts[j][1], pts[j-1][1], "%s: the count rises (y falls in SVG) at point %d", want.name, j)
		}
	}
	limits := byClass(es, "limit")
	require.Len(t, limits, 1)
	assert.Equal(t, "server: 10 + 10/s", limits[0].attrs["data-curve"])
	assert.NotEmpty(t, limits[0].attrs["stroke-dasharray"], "the server's curve is dashed")

	refused := byClass(es, "mark refused")
	failed := byClass(es, "mark failed")
	assert.Len(t, refused, 4, "the marks are pixels apart: one element each")
	assert.Len(t, failed, 1)
	perSeries := map[string]int{}
	for _, m := range append(refused, failed...) {
		assert.Equal(t, "1", m.attrs["data-count"])
		perSeries[m.attrs["data-series"]]++
	}
	assert.Equal(t, map[string]int{"groqkit": 2, "openai-go": 3}, perSeries)

	titles := byClass(es, "title")
	require.Len(t, titles, 1)
	assert.Equal(t, `burst 10 & RPM 600 <2 keys>`, titles[0].text, "the title, escaped and read back")
	if subs := byClass(es, "subtitle"); assert.Len(t, subs, 1) {
		assert.Equal(t, "2 clients", subs[0].text)
	}
	assert.Len(t, byClass(es, "xlabel"), 1)
	assert.Len(t, byClass(es, "ylabel"), 1)
	legend := buf.String()
	for _, want := range []string{"groqkit: 40 admitted, 2 refused", "openai-go: 40 admitted, 2 refused, 1 failed", "server: 10 + 10/s", "429: refused by the server", "a call that failed"} {
		assert.Contains(t, legend, want)
	}
}

// TestMarksOnOnePixelAreDrawnOnce: a wave of 429s at one moment is one
// element whose data-count says how many; other kinds and pixels stay apart.
func TestMarksOnOnePixelAreDrawnOnce(t *testing.T) {
	var marks []Mark
	for i := range 500 {
		marks = append(marks, Mark{At: time.Duration(i) * time.Microsecond, Kind: Refused})
	}
	marks = append(marks, Mark{At: 0, Kind: Failed}, Mark{At: 5 * time.Second, Kind: Refused})
	f := Figure{Title: "wave", End: 10 * time.Second, Series: []Series{{Name: "s", Marks: marks}}}
	var buf bytes.Buffer
	require.NoError(t, f.WriteSVG(&buf))
	es := parse(t, buf.Bytes())
	refused := byClass(es, "mark refused")
	require.Len(t, refused, 2)
	assert.Equal(t, "500", refused[0].attrs["data-count"])
	assert.Equal(t, "1", refused[1].attrs["data-count"])
	failed := byClass(es, "mark failed")
	require.Len(t, failed, 1)
	assert.Equal(t, "1", failed[0].attrs["data-count"])
	assert.Contains(t, buf.String(), "s: 0 admitted, 501 refused, 1 failed")
	assert.Less(t, buf.Len(), 5000, "bytes")
}

// TestMarkSitsOnItsLine: a mark is drawn at the count admitted by its time.
func TestMarkSitsOnItsLine(t *testing.T) {
	f := Figure{Title: "t", End: 10 * time.Second, Series: []Series{{Name: "s",
		Admitted: []time.Duration{ms(1000), ms(2000), ms(3000), ms(4000)},
		Marks:    []Mark{{ms(2500), Failed}}}}}
	var buf bytes.Buffer
	require.NoError(t, f.WriteSVG(&buf))
	es := parse(t, buf.Bytes())
	pts := points(t, byClass(es, "series")[0])
	m := byClass(es, "mark failed")
	require.Len(t, m, 1)
	assert.Equal(t, strconv.FormatFloat(pts[2][1], 'f', -1, 64), m[0].attrs["cy"], "2 admitted by 2.5 s: the height of the second point")
	cx, err := strconv.ParseFloat(m[0].attrs["cx"], 64)
	require.NoError(t, err)
	assert.Greater(t, cx, pts[2][0])
	assert.Less(t, cx, pts[3][0])
}

func TestWriteSVGIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	require.NoError(t, sample().WriteSVG(&a))
	require.NoError(t, sample().WriteSVG(&b))
	assert.Equal(t, a.String(), b.String())
}

// TestThinning: a long run is drawn with a bounded number of points, still
// monotonic, ending at the full count.
func TestThinning(t *testing.T) {
	var ts []time.Duration
	for i := range 100_000 {
		ts = append(ts, ms(i))
	}
	f := Figure{Title: "long", Series: []Series{{Name: "s", Admitted: ts}}}
	var buf bytes.Buffer
	require.NoError(t, f.WriteSVG(&buf))
	line := byClass(parse(t, buf.Bytes()), "series")[0]
	assert.Equal(t, "100000", line.attrs["data-count"])
	pts := points(t, line)
	assert.Less(t, len(pts), 4*int(plotW)+4, "at most two points per half-pixel column")
	for j := 1; j < len(pts); j++ {
		require.GreaterOrEqual(t, pts[j][0], pts[j-1][0])
		require.LessOrEqual(t, pts[j][1], pts[j-1][1])
	}
	last := pts[len(pts)-1]
	assert.InDelta(t, left+plotW*float64(ts[len(ts)-1])/float64(f.end()), last[0], 0.1)
	assert.Less(t, buf.Len(), 100_000, "bytes")
}

func TestEmptyAndBadInput(t *testing.T) {
	var buf bytes.Buffer
	assert.ErrorIs(t, Figure{Title: "nothing"}.WriteSVG(&buf), ErrEmpty)
	assert.Zero(t, buf.Len(), "nothing written on error")

	for name, tc := range map[string]struct {
		f    Figure
		want string
	}{
		"nameless series": {Figure{Series: []Series{{}}}, "series 0 has no name"},
		"negative time":   {Figure{Series: []Series{{Name: "a", Admitted: []time.Duration{-1}}}}, `series "a": admission at -1ns`},
		"unknown mark":    {Figure{Series: []Series{{Name: "a", Marks: []Mark{{0, MarkKind(7)}}}}}, "MarkKind(7)"},
		"curve backwards": {Figure{Series: []Series{{Name: "a"}}, Curves: []Curve{{Name: "c", Points: []Point{{ms(5), 1}, {ms(1), 2}}}}}, `curve "c": point 1`},
		"curve no points": {Figure{Series: []Series{{Name: "a"}}, Curves: []Curve{{Name: "c"}}}, `curve 0 ("c")`},
		"negative end":    {Figure{End: -time.Second, Series: []Series{{Name: "a"}}}, "End -1s"},
	} {
		err := tc.f.WriteSVG(&buf)
		if assert.Error(t, err, name) {
			assert.Contains(t, err.Error(), tc.want, name)
		}
	}

	// A series with nothing admitted is a flat line at 0: a valid figure.
	buf.Reset()
	require.NoError(t, Figure{Title: "idle", Series: []Series{{Name: "a"}}}.WriteSVG(&buf))
	line := byClass(parse(t, buf.Bytes()), "series")
	require.Len(t, line, 1)
	assert.Equal(t, "0", line[0].attrs["data-count"])
	assert.Len(t, points(t, line[0]), 1)
}

// TestLimitAboveThePlot: a limit far above the lines does not flatten them; it
// is clipped and its legend says so.
func TestLimitAboveThePlot(t *testing.T) {
	f := Figure{Title: "unbound", Series: []Series{{Name: "a", Admitted: []time.Duration{ms(1), ms(2), ms(3)}}},
		Curves: []Curve{Bucket("RPM 100000", 100_000, 100_000/60.0, ms(3))}}
	var buf bytes.Buffer
	require.NoError(t, f.WriteSVG(&buf))
	assert.Contains(t, buf.String(), "RPM 100000 (above the plot)")
	pts := points(t, byClass(parse(t, buf.Bytes()), "series")[0])
	assert.Less(t, pts[len(pts)-1][1], top+plotH/2, "the line climbs above the middle: the axis is scaled to it")
}

func TestCurves(t *testing.T) {
	b := Bucket("b", 10, 2, 5*time.Second)
	assert.Equal(t, []Point{{0, 10}, {5 * time.Second, 20}}, b.Points)
	w := Window("w", 30, time.Minute, 150*time.Second)
	assert.Equal(t, []Point{{0, 30}, {time.Minute, 30}, {time.Minute, 60}, {2 * time.Minute, 60}, {2 * time.Minute, 90}, {150 * time.Second, 90}}, w.Points)
	assert.InDelta(t, 15.0, b.maxUpTo(2500*time.Millisecond), 1e-9)
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		hi   float64
		want []float64
	}{
		{300, []float64{0, 50, 100, 150, 200, 250, 300}},
		{14, []float64{0, 2, 4, 6, 8, 10, 12, 14}},
		{0.5, []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5}},
		{1, []float64{0, 1}},
	} {
		got := ticks(tc.hi)
		require.Len(t, got, len(tc.want), "ticks(%v) = %v", tc.hi, got)
		for i := range got {
			assert.InDelta(t, tc.want[i], got[i], 1e-9)
		}
	}
	assert.Equal(t, 250.0, niceCeil(201))
	assert.Equal(t, 400.0, axisCeil(334))
	assert.Equal(t, 1200.0, axisCeil(1050))
	assert.Equal(t, 1000.0, niceCeil(1000))
}
