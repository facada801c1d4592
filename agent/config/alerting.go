package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Alerting is the [alerting] table: how check results become alerts.
type Alerting struct {
	// StateDir holds the alert journal (state of every check and the
	// queue of every alert output) and outputs' own state.
	StateDir string
	Policy   Policy
	// MaintenanceFile silences alerts while it exists: empty, the whole
	// agent; otherwise one instance name or glob per line.
	MaintenanceFile string
	Maintenance     []Window
}

// Policy turns results into hard states and notifications. Checks may
// override every field.
type Policy struct {
	// AlertAfter consecutive non-OK results make a problem hard.
	AlertAfter int
	// RecoverAfter consecutive OK results end it.
	RecoverAfter int
	// Renotify repeats an open alert this often; 0 never.
	Renotify time.Duration
	// FlapWindow results are looked at for flapping; notifications stop
	// when the share of state changes reaches FlapHigh and resume when it
	// falls to FlapLow.
	FlapWindow int
	FlapHigh   float64
	FlapLow    float64
}

// Window is a maintenance window: a fixed period (Start, End) or a weekly
// one (Days, From, To in Location).
type Window struct {
	Key      string
	Name     string
	Checks   []string // instance names or globs; empty = all
	Start    time.Time
	End      time.Time
	Days     []time.Weekday
	From, To time.Duration // since midnight
	Location *time.Location
}

// Active reports whether the window covers t for instance.
func (w Window) Active(t time.Time, instance string, match func(patterns []string, name string) bool) bool {
	if len(w.Checks) > 0 && !match(w.Checks, instance) {
		return false
	}
	if !w.Start.IsZero() {
		return !t.Before(w.Start) && t.Before(w.End)
	}
	lt := t.In(w.Location)
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, w.Location)
	since := lt.Sub(midnight)
	day := lt.Weekday()
	if w.From <= w.To {
		return hasDay(w.Days, day) && since >= w.From && since < w.To
	}
	// Over midnight: 22:00-02:00 on "sat" covers Saturday night into Sunday.
	return (hasDay(w.Days, day) && since >= w.From) || (hasDay(w.Days, (day+6)%7) && since < w.To)
}

func hasDay(days []time.Weekday, d time.Weekday) bool {
	if len(days) == 0 {
		return true
	}
	for _, x := range days {
		if x == d {
			return true
		}
	}
	return false
}

// DefaultPolicy is Nagios-like: two failures to alert, one success to
// recover, no repeats, flapping over 20 results at 50% / 25%.
func DefaultPolicy() Policy {
	return Policy{AlertAfter: 2, RecoverAfter: 1, FlapWindow: 20, FlapHigh: 0.5, FlapLow: 0.25}
}

func (d *decoder) alerting(v any) (Alerting, error) {
	al := Alerting{StateDir: "/var/lib/mailmon", Policy: DefaultPolicy()}
	if v == nil {
		return al, nil
	}
	t, ok := v.(map[string]any)
	if !ok {
		return al, d.errorf("alerting", "must be a table")
	}
	for _, k := range sortedKeys(t) {
		key := "alerting." + k
		val := t[k]
		var err error
		switch k {
		case "state_dir":
			al.StateDir, err = d.str(key, val)
		case "maintenance_file":
			al.MaintenanceFile, err = d.str(key, val)
		case "maintenance":
			al.Maintenance, err = d.windows(key, val)
		default:
			var handled bool
			handled, err = d.policyKey(&al.Policy, "alerting", k, val)
			if !handled {
				err = d.errorf(key, "unknown key")
			}
		}
		if err != nil {
			return al, err
		}
	}
	return al, d.checkPolicy("alerting", al.Policy)
}

// policyKey decodes one policy key into p; handled is false for keys
// that are not policy keys.
func (d *decoder) policyKey(p *Policy, prefix, k string, val any) (handled bool, err error) {
	key := prefix + "." + k
	switch k {
	case "alert_after":
		p.AlertAfter, err = d.positiveInt(key, val)
	case "recover_after":
		p.RecoverAfter, err = d.positiveInt(key, val)
	case "renotify_interval":
		p.Renotify, err = d.duration(key, val, false)
	case "flap_window":
		p.FlapWindow, err = d.positiveInt(key, val)
	case "flap_high":
		p.FlapHigh, err = d.fraction(key, val)
	case "flap_low":
		p.FlapLow, err = d.fraction(key, val)
	default:
		return false, nil
	}
	return true, err
}

func (d *decoder) checkPolicy(prefix string, p Policy) error {
	if p.FlapLow > p.FlapHigh {
		return d.errorf(prefix+".flap_low", "%v is above flap_high %v", p.FlapLow, p.FlapHigh)
	}
	if p.FlapWindow < 2 {
		return d.errorf(prefix+".flap_window", "must be at least 2 results")
	}
	return nil
}

func (d *decoder) fraction(key string, v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	default:
		return 0, d.errorf(key, "expected a number between 0 and 1, got %s", describe(v))
	}
	if f <= 0 || f > 1 {
		return 0, d.errorf(key, "%v is not between 0 (excluded) and 1", f)
	}
	return f, nil
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func (d *decoder) windows(key string, v any) ([]Window, error) {
	list, err := d.tableList(key, v)
	if err != nil {
		return nil, err
	}
	var out []Window
	for i, t := range list {
		wk := fmt.Sprintf("%s[%d]", key, i)
		w := Window{Key: wk, Location: time.Local}
		var startSet, endSet, fromSet, toSet bool
		for _, k := range sortedKeys(t) {
			fk := wk + "." + k
			val := t[k]
			var err error
			switch k {
			case "name":
				w.Name, err = d.str(fk, val)
			case "checks":
				w.Checks, err = d.strList(fk, val)
			case "start":
				w.Start, err = d.timestamp(fk, val)
				startSet = true
			case "end":
				w.End, err = d.timestamp(fk, val)
				endSet = true
			case "days":
				var names []string
				names, err = d.strList(fk, val)
				for _, n := range names {
					day, ok := weekdays[strings.ToLower(n)]
					if !ok && err == nil {
						err = d.errorf(fk, "%q is not a day (sun, mon, tue, wed, thu, fri, sat)", n)
					}
					w.Days = append(w.Days, day)
				}
			case "from":
				w.From, err = d.clock(fk, val)
				fromSet = true
			case "to":
				w.To, err = d.clock(fk, val)
				toSet = true
			case "timezone":
				var name string
				if name, err = d.str(fk, val); err == nil {
					if w.Location, err = time.LoadLocation(name); err != nil {
						err = d.errorf(fk, "unknown time zone %q", name)
					}
				}
			default:
				err = d.errorf(fk, "unknown key")
			}
			if err != nil {
				return nil, err
			}
		}
		switch {
		case startSet != endSet:
			return nil, d.errorf(wk, "start and end go together")
		case startSet && (fromSet || toSet || len(w.Days) > 0):
			return nil, d.errorf(wk, "either start/end (one period) or days/from/to (weekly), not both")
		case startSet && !w.End.After(w.Start):
			return nil, d.errorf(wk+".end", "is not after start")
		case !startSet && (!fromSet || !toSet):
			return nil, d.errorf(wk, "needs start and end, or from and to (with optional days)")
		}
		out = append(out, w)
	}
	return out, nil
}

// timestamp accepts a TOML/YAML datetime or an RFC 3339 string.
func (d *decoder) timestamp(key string, v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		t, err := time.Parse(time.RFC3339, x)
		if err != nil {
			return time.Time{}, d.errorf(key, "invalid time %q (want RFC 3339, e.g. 2026-12-01T22:00:00Z)", x)
		}
		return t, nil
	}
	return time.Time{}, d.errorf(key, "expected a date-time, got %s", describe(v))
}

// clock reads "HH:MM" as time since midnight.
func (d *decoder) clock(key string, v any) (time.Duration, error) {
	s, err := d.str(key, v)
	if err != nil {
		return 0, err
	}
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, d.errorf(key, "invalid time of day %q (want HH:MM)", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

func (d *decoder) statuses(key string, v any) ([]string, error) {
	list, err := d.strList(key, v)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, d.errorf(key, "names no status (want some of WARNING, CRITICAL, UNKNOWN)")
	}
	out := make([]string, 0, len(list))
	for _, s := range list {
		u := strings.ToUpper(s)
		switch u {
		case "WARNING", "CRITICAL", "UNKNOWN":
			out = append(out, u)
		default:
			return nil, d.errorf(key, "%q is not WARNING, CRITICAL or UNKNOWN", s)
		}
	}
	return out, nil
}
