package runplot

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// The figure's size and the plot area's margins, in pixels.
const (
	width, height            = 800.0, 480.0
	left, right, top, bottom = 72.0, 24.0, 52.0, 56.0
	plotW, plotH             = width - left - right, height - top - bottom
)

// palette colours the series in turn; red is kept for the 429 marks.
var palette = []string{"#1f5fbf", "#e08a00", "#2a9d3a", "#8a4fbf", "#7a5230", "#d1479e", "#1aa6b7", "#555555"}

const (
	refusedColour = "#d62728"
	failedColour  = "#111111"
	curveColour   = "#666666"
)

// curveDashes tell the curves apart.
var curveDashes = []string{"7 4", "2 3", "10 3 2 3"}

// plot is a figure being written.
type plot struct {
	b         bytes.Buffer
	end       time.Duration
	yMax      float64
	unit      time.Duration // the time axis's unit
	unitName  string
	refused   int
	failed    int
	offCurves map[string]bool // curves wholly above the plot
}

func newPlot(title, subtitle string, end time.Duration, hi float64) *plot {
	p := &plot{end: end, offCurves: map[string]bool{}}
	p.yMax = axisCeil(hi * 1.05)
	p.unit, p.unitName = timeUnit(end)
	fmt.Fprintf(&p.b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif" font-size="12">`+"\n",
		num(width), num(height), num(width), num(height))
	fmt.Fprintf(&p.b, "<title>%s</title>\n", esc(title))
	fmt.Fprintf(&p.b, `<rect width="%s" height="%s" fill="#ffffff"/>`+"\n", num(width), num(height))
	fmt.Fprintf(&p.b, `<text class="title" x="%s" y="22" text-anchor="middle" font-size="16" font-weight="bold">%s</text>`+"\n",
		num(width/2), esc(title))
	if subtitle != "" {
		fmt.Fprintf(&p.b, `<text class="subtitle" x="%s" y="40" text-anchor="middle" font-size="11" fill="#444444">%s</text>`+"\n",
			num(width/2), esc(subtitle))
	}
	fmt.Fprintf(&p.b, `<clipPath id="plot-area"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath>`+"\n",
		num(left), num(top), num(plotW), num(plotH))
	return p
}

// x is the horizontal pixel of time t; y the vertical pixel of count n.
func (p *plot) x(t time.Duration) float64 { return left + plotW*float64(t)/float64(p.end) }
func (p *plot) y(n float64) float64       { return top + plotH*(1-n/p.yMax) }

// timeUnit picks the time axis's unit for a run of length end.
func timeUnit(end time.Duration) (time.Duration, string) {
	switch {
	case end > 3*time.Hour:
		return time.Hour, "h"
	case end > 3*time.Minute:
		return time.Minute, "min"
	}
	return time.Second, "s"
}

// axes draws the grid, the ticks and their labels, and the axes' names.
func (p *plot) axes() {
	b := &p.b
	b.WriteString(`<g class="axes" stroke="#000000" stroke-width="1">` + "\n")
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(left), num(top+plotH), num(left+plotW), num(top+plotH))
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(left), num(top), num(left), num(top+plotH))
	b.WriteString("</g>\n")
	b.WriteString(`<g class="ticks" fill="#000000">` + "\n")
	span := float64(p.end) / float64(p.unit)
	for _, v := range ticks(span) {
		x := p.x(time.Duration(v * float64(p.unit)))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e4e4e4"/>`, num(x), num(top), num(x), num(top+plotH))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(x), num(top+plotH+16), label(v))
	}
	for _, v := range ticks(p.yMax) {
		y := p.y(v)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e4e4e4"/>`, num(left), num(y), num(left+plotW), num(y))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(left-6), num(y+4), label(v))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(b, `<text class="xlabel" x="%s" y="%s" text-anchor="middle">time since the start (%s)</text>`+"\n",
		num(left+plotW/2), num(height-12), p.unitName)
	fmt.Fprintf(b, `<text class="ylabel" transform="translate(18 %s) rotate(-90)" text-anchor="middle">requests admitted (cumulative)</text>`+"\n",
		num(top+plotH/2))
}

// curves draws the admission curves, dashed, clipped to the plot area.
func (p *plot) curves(cs []Curve) {
	for i, c := range cs {
		if c.Points[0].Count > p.yMax {
			p.offCurves[c.Name] = true
		}
		fmt.Fprintf(&p.b, `<polyline class="limit" data-curve="%s" clip-path="url(#plot-area)" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="%s" points="`,
			esc(c.Name), curveColour, curveDashes[i%len(curveDashes)])
		for j, pt := range c.Points {
			if j > 0 {
				p.b.WriteByte(' ')
			}
			// Beyond the time axis the line is clipped; stop it there for a small file.
			at := min(pt.At, 2*p.end)
			fmt.Fprintf(&p.b, "%s,%s", num(p.x(at)), num(p.y(math.Min(pt.Count, 4*p.yMax))))
		}
		p.b.WriteString(`"/>` + "\n")
	}
}

// series draws one series' line (thinned to the pixels it covers), through ts sorted.
func (p *plot) series(name string, ts []time.Duration, colour string) {
	fmt.Fprintf(&p.b, `<polyline class="series" data-series="%s" data-count="%d" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="`,
		esc(name), len(ts), colour)
	pts := p.thin(ts)
	for i, pt := range pts {
		if i > 0 {
			p.b.WriteByte(' ')
		}
		fmt.Fprintf(&p.b, "%s,%s", num(pt[0]), num(pt[1]))
	}
	p.b.WriteString(`"/>` + "\n")
}

// spot is a mark as drawn: where, of what kind, and how many marks it stands for.
type spot struct {
	kind MarkKind
	x, y float64
	n    int
}

// marks draws a series' marks on its line (at the count admitted by each
// mark's time). Marks of one kind that fall on the same pixel are drawn once,
// their number in data-count, so a wave of thousands stays a small file.
func (p *plot) marks(name string, ts []time.Duration, ms []Mark) {
	ms = append([]Mark(nil), ms...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].At < ms[j].At })
	type key struct {
		kind MarkKind
		x, y int
	}
	var spots []spot
	at := map[key]int{} // index in spots
	for _, m := range ms {
		n := sort.Search(len(ts), func(i int) bool { return ts[i] > m.At })
		x, y := p.x(m.At), p.y(float64(n))
		k := key{m.Kind, int(math.Round(x)), int(math.Round(y))}
		if i, ok := at[k]; ok {
			spots[i].n++
			continue
		}
		at[k] = len(spots)
		spots = append(spots, spot{m.Kind, x, y, 1})
	}
	for _, sp := range spots {
		switch sp.kind {
		case Refused:
			p.refused += sp.n
			fmt.Fprintf(&p.b, `<path class="mark refused" data-series="%s" data-count="%d" d="M%s,%sl7,7m0,-7l-7,7" stroke="%s" stroke-width="1.5"/>`+"\n",
				esc(name), sp.n, num(sp.x-3.5), num(sp.y-3.5), refusedColour)
		case Failed:
			p.failed += sp.n
			fmt.Fprintf(&p.b, `<circle class="mark failed" data-series="%s" data-count="%d" cx="%s" cy="%s" r="4" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n",
				esc(name), sp.n, num(sp.x), num(sp.y), failedColour)
		}
	}
}

// thin is the line's points in pixels from (0, 0) through each admission: of
// the points that fall in one half-pixel column it keeps the first and the last,
// which keeps the line's shape (counts only rise) in a file of bounded size.
func (p *plot) thin(ts []time.Duration) [][2]float64 {
	out := [][2]float64{{p.x(0), p.y(0)}}
	col := func(x float64) int { return int(math.Floor(x * 2)) }
	for i, t := range ts {
		pt := [2]float64{p.x(t), p.y(float64(i + 1))}
		if i+1 < len(ts) && len(out) > 1 && col(pt[0]) == col(out[len(out)-1][0]) &&
			col(p.x(ts[i+1])) == col(pt[0]) {
			continue // neither the first nor the last of its column
		}
		out = append(out, pt)
	}
	return out
}

// legend lists the series, the curves and the kinds of mark drawn, top left.
func (p *plot) legend(f Figure) {
	type entry struct {
		kind, name, colour, dash string
	}
	var es []entry
	for i, s := range f.Series {
		es = append(es, entry{"series", s.legend(), palette[i%len(palette)], ""})
	}
	for i, c := range f.Curves {
		name := c.Name
		if p.offCurves[c.Name] {
			name += " (above the plot)"
		}
		es = append(es, entry{"limit", name, curveColour, curveDashes[i%len(curveDashes)]})
	}
	if p.refused > 0 {
		es = append(es, entry{"refused", "429: refused by the server", refusedColour, ""})
	}
	if p.failed > 0 {
		es = append(es, entry{"failed", "a call that failed", failedColour, ""})
	}
	longest := 0
	for _, e := range es {
		longest = max(longest, len([]rune(e.name)))
	}
	x0, y0 := left+10, top+8
	fmt.Fprintf(&p.b, `<g class="legend"><rect x="%s" y="%s" width="%s" height="%s" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`+"\n",
		num(x0), num(y0), num(40+6.6*float64(longest)), num(8+18*float64(len(es))))
	for i, e := range es {
		y := y0 + 17 + 18*float64(i)
		switch e.kind {
		case "refused":
			fmt.Fprintf(&p.b, `<path d="M%s,%sl7,7m0,-7l-7,7" stroke="%s" stroke-width="1.5"/>`, num(x0+14), num(y-7.5), e.colour)
		case "failed":
			fmt.Fprintf(&p.b, `<circle cx="%s" cy="%s" r="4" fill="none" stroke="%s" stroke-width="1.5"/>`, num(x0+17.5), num(y-4), e.colour)
		default:
			dash := ""
			if e.dash != "" {
				dash = ` stroke-dasharray="` + e.dash + `"`
			}
			fmt.Fprintf(&p.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`, num(x0+8), num(y-4), num(x0+28), num(y-4), e.colour, dash)
		}
		fmt.Fprintf(&p.b, `<text x="%s" y="%s">%s</text>`+"\n", num(x0+34), num(y), esc(e.name))
	}
	p.b.WriteString("</g>\n")
}

// legend is the series' line in the legend: its name, what it had admitted,
// and its marks when it has any.
func (s Series) legend() string {
	var refused, failed int
	for _, m := range s.Marks {
		if m.Kind == Refused {
			refused++
		} else {
			failed++
		}
	}
	out := fmt.Sprintf("%s: %d admitted", s.Name, len(s.Admitted))
	if refused > 0 {
		out += fmt.Sprintf(", %d refused", refused)
	}
	if failed > 0 {
		out += fmt.Sprintf(", %d failed", failed)
	}
	return out
}

// axisCeil is the count axis's top: the smallest round value (1, 1.2, 1.5, 2,
// 2.5, 3, 4, 5, 6, 8 times a power of ten) at or above v.
func axisCeil(v float64) float64 {
	return roundUp(v, []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10})
}

// niceCeil is the smallest of 1, 2, 2.5, 5 times a power of ten at or above v.
func niceCeil(v float64) float64 { return roundUp(v, []float64{1, 2, 2.5, 5, 10}) }

// roundUp is the smallest of steps times a power of ten at or above v (1 at least).
func roundUp(v float64, steps []float64) float64 {
	if v <= 1 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range steps {
		if m*mag >= v*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// ticks are round values from 0 to hi, 4 to 10 of them.
func ticks(hi float64) []float64 {
	if hi <= 0 {
		return []float64{0}
	}
	step := niceCeil(hi / 8)
	if hi < 1 && step >= 1 {
		step = math.Pow(10, math.Floor(math.Log10(hi)))
	}
	var out []float64
	for i := 0; float64(i)*step <= hi*(1+1e-9); i++ {
		out = append(out, float64(i)*step)
	}
	return out
}

// label is a tick's text: the value with as few digits as it needs.
func label(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// num is a pixel coordinate, to a tenth.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// esc escapes text for XML.
func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // a bytes.Buffer does not fail
	return b.String()
}
