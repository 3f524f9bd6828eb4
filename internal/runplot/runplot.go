// Package runplot draws a run of rate-limited requests as one SVG figure: the
// requests admitted over time, cumulative, one line per series (a client, a
// model), against the server's admission curves (what its limits allow by each
// moment), dashed, with the requests it refused (429s) and the calls that failed
// marked on the line where they happened.
//
// It has no dependencies beyond the standard library. The output is a pure
// function of the Figure: the same Figure gives the same bytes.
package runplot

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// MarkKind says what a Mark is.
type MarkKind int

const (
	// Refused is a request the server refused with 429: a small red cross.
	Refused MarkKind = iota
	// Failed is a call that failed for good: a dark ring.
	Failed
)

// String is the kind's name in the SVG's class attribute ("refused", "failed").
func (k MarkKind) String() string {
	switch k {
	case Refused:
		return "refused"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("MarkKind(%d)", int(k))
}

// Mark is an event drawn on its series' line at the time it happened.
type Mark struct {
	At   time.Duration // since the run's start
	Kind MarkKind
}

// Series is one line: the times, since the run's start, at which its requests
// were admitted (in any order; they are sorted when drawn), and its marks.
type Series struct {
	Name     string
	Admitted []time.Duration
	Marks    []Mark
}

// Point is a point of a Curve: Count requests allowed by At.
type Point struct {
	At    time.Duration
	Count float64
}

// Curve is a server's admission curve: how many requests its limits allow by
// each moment since the start, as points joined by straight lines (At
// ascending). Bucket and Window make the usual ones.
type Curve struct {
	Name   string
	Points []Point
}

// Bucket is a token bucket's curve from 0 to end: burst at once, then perSecond
// (burst + perSecond·t).
func Bucket(name string, burst, perSecond float64, end time.Duration) Curve {
	end = max(end, time.Millisecond)
	return Curve{Name: name, Points: []Point{{0, burst}, {end, burst + perSecond*end.Seconds()}}}
}

// Window is a fixed or sliding window's curve from 0 to end: limit requests at
// once and limit more at each window's turn, as steps.
func Window(name string, limit float64, window, end time.Duration) Curve {
	end = max(end, time.Millisecond)
	if window <= 0 {
		window = end
	}
	c := Curve{Name: name, Points: []Point{{0, limit}}}
	n := 1.0
	for t := window; t < end; t += window {
		c.Points = append(c.Points, Point{t, n * limit}, Point{t, (n + 1) * limit})
		n++
	}
	c.Points = append(c.Points, Point{end, n * limit})
	return c
}

// Figure is what WriteSVG draws. Title heads it, and Subtitle, when set, is a
// smaller line under it (what was run); End is the time axis's extent (0: the
// last admission or mark, at least a millisecond).
type Figure struct {
	Title    string
	Subtitle string
	Series   []Series
	Curves   []Curve
	End      time.Duration
}

// ErrEmpty is WriteSVG's error for a Figure with no series.
var ErrEmpty = errors.New("runplot: no series to draw")

// check names the first thing in f that cannot be drawn.
func (f Figure) check() error {
	if len(f.Series) == 0 {
		return ErrEmpty
	}
	if f.End < 0 {
		return fmt.Errorf("runplot: End %v is negative", f.End)
	}
	for i, s := range f.Series {
		if s.Name == "" {
			return fmt.Errorf("runplot: series %d has no name", i)
		}
		for _, t := range s.Admitted {
			if t < 0 {
				return fmt.Errorf("runplot: series %q: admission at %v, before the start", s.Name, t)
			}
		}
		for _, m := range s.Marks {
			if m.At < 0 || (m.Kind != Refused && m.Kind != Failed) {
				return fmt.Errorf("runplot: series %q: mark %v at %v: want a Refused or Failed mark at or after the start", s.Name, m.Kind, m.At)
			}
		}
	}
	for i, c := range f.Curves {
		if c.Name == "" || len(c.Points) == 0 {
			return fmt.Errorf("runplot: curve %d (%q) needs a name and points", i, c.Name)
		}
		for j, p := range c.Points {
			if math.IsNaN(p.Count) || math.IsInf(p.Count, 0) || p.At < 0 || (j > 0 && p.At < c.Points[j-1].At) {
				return fmt.Errorf("runplot: curve %q: point %d (%v, %v): want finite counts at times ascending from 0", c.Name, j, p.At, p.Count)
			}
		}
	}
	return nil
}

// end is the time axis's extent.
func (f Figure) end() time.Duration {
	if f.End > 0 {
		return f.End
	}
	end := time.Millisecond
	for _, s := range f.Series {
		for _, t := range s.Admitted {
			end = max(end, t)
		}
		for _, m := range s.Marks {
			end = max(end, m.At)
		}
	}
	return end
}

// top is the count axis's extent before rounding: the largest series, and each
// curve's largest value within the time axis unless it is more than twice the
// largest series (a limit that does not bind would flatten the lines; it is
// clipped, and its legend says so).
func (f Figure) top(end time.Duration) float64 {
	most := 0.0
	for _, s := range f.Series {
		most = max(most, float64(len(s.Admitted)))
	}
	hi := most
	for _, c := range f.Curves {
		if v := c.maxUpTo(end); most == 0 || v <= 2*most {
			hi = max(hi, v)
		}
	}
	return max(hi, 1)
}

// maxUpTo is the curve's largest value at or before end.
func (c Curve) maxUpTo(end time.Duration) float64 {
	v := math.Inf(-1)
	for i, p := range c.Points {
		if p.At > end {
			if i > 0 { // the value at end, between the points
				prev := c.Points[i-1]
				frac := float64(end-prev.At) / float64(p.At-prev.At)
				v = max(v, prev.Count+frac*(p.Count-prev.Count))
			}
			break
		}
		v = max(v, p.Count)
	}
	return v
}

// sorted is the series' admissions in time order (a copy).
func (s Series) sorted() []time.Duration {
	ts := slices.Clone(s.Admitted)
	slices.Sort(ts)
	return ts
}

// WriteSVG writes the figure as one standalone SVG document. It returns ErrEmpty
// for a figure with no series, an error naming the value for one it cannot draw
// (a negative time, a nameless series or curve, a curve's points out of order),
// and w's error.
func (f Figure) WriteSVG(w io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	end := f.end()
	p := newPlot(f.Title, f.Subtitle, end, f.top(end))
	p.axes()
	sorted := make([][]time.Duration, len(f.Series))
	for i, s := range f.Series {
		sorted[i] = s.sorted()
		p.series(s.Name, sorted[i], palette[i%len(palette)])
	}
	p.curves(f.Curves) // over the lines: a client that runs along its limit shows both
	for i, s := range f.Series {
		p.marks(s.Name, sorted[i], s.Marks)
	}
	p.legend(f)
	p.b.WriteString("</svg>\n")
	_, err := w.Write(p.b.Bytes())
	return err
}
