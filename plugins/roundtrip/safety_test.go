package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailmon/mailmon/scripts/testenv"
	"github.com/mailmon/mailmon/sdk"
)

// TestSafety fills a mailbox with ordinary mail, mail that looks like
// probes and forged tokens, runs the check many times (IMAP and POP3) with
// a sweep of everything older than a millisecond, and checks that every
// one of those messages is exactly as it was: same UIDs, flags, sizes.
// Only this instance's own old leftover is swept.
func TestSafety(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	user, pass := env["MAILSTACK_SAFETY_USER"], env["MAILSTACK_SAFETY_PASS"]
	id := uniqueID(t)
	now := time.Now()
	ours := newToken(id, now)
	other := newToken("other-instance", now)
	c := mailbox(t, env, user, pass)
	marker := "safety-" + id

	seeds := []string{
		"Subject: hello " + marker + "\r\n\r\nan ordinary message\r\n",
		"Subject: mailmon roundtrip " + marker + "\r\n\r\nsame subject as the probes\r\n",
		"Subject: mailmon roundtrip " + ours.String() + " " + marker + "\r\n\r\nour token, but only in the subject\r\n",
		"Subject: forged other instance " + marker + "\r\n" + probeHeader + ": " + other.String() + "\r\n\r\nanother instance's probe\r\n",
		"Subject: similar id " + marker + "\r\n" + probeHeader + ": " + newToken(id+"x", now).String() + "\r\n\r\nan id that starts like ours\r\n",
		"Subject: not a token " + marker + "\r\n" + probeHeader + ": note " + id + ".123 about it\r\n\r\nour id inside a value that is no token\r\n",
		"Subject: two headers " + marker + "\r\n" + probeHeader + ": " + other.String() + "\r\n" + probeHeader + ": " + newToken(id, now.Add(-48*time.Hour)).String() + "\r\n\r\ntwo probe headers\r\n",
		"Subject: flagged " + marker + "\r\n\r\nflagged and seen by its owner\r\n",
	}
	for _, s := range seeds {
		deliver(t, env, user, s)
	}
	// This instance's own leftover from two days ago: the only one swept.
	leftover := newToken(id, now.Add(-48*time.Hour))
	deliver(t, env, user, fmt.Sprintf("Subject: leftover %s\r\n%s: %s\r\n\r\nold probe\r\n", marker, probeHeader, leftover))

	for i := 0; i < 100; i++ {
		if n := len(seeded(t, c, marker)); n == len(seeds)+1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	uids := seeded(t, c, marker)
	if len(uids) != len(seeds)+1 {
		t.Fatalf("%d of %d seed messages arrived", len(uids), len(seeds)+1)
	}
	t.Cleanup(func() { // the test's own seeds, by UID
		_ = c.Store(imap.UIDSetNum(uids...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		_ = c.UIDExpunge(imap.UIDSetNum(uids...)).Close()
	})
	flagged := seeded(t, c, "flagged "+marker)
	leftoverUID := seeded(t, c, "leftover "+marker)
	if len(flagged) != 1 || len(leftoverUID) != 1 {
		t.Fatalf("seed UIDs %v %v", flagged, leftoverUID)
	}
	if err := c.Store(imap.UIDSetNum(flagged...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, c)
	before = slices.DeleteFunc(before, func(s string) bool { return strings.HasPrefix(s, fmt.Sprintf("uid=%d ", leftoverUID[0])) })

	cfg := direct(t, env)
	cfg["instance_id"] = id
	set(cfg, "send.rcpt_to", user)
	set(cfg, "receive.username", user)
	set(cfg, "receive.password", pass)
	set(cfg, "receive.sweep_age", "1ms")
	var swept int64
	for run := 0; run < 6; run++ {
		if run == 3 { // POP3 deletes by the same rules
			set(cfg, "receive.protocol", "pop3")
			set(cfg, "receive.address", env["MAILSTACK_POP3"])
		}
		res := check(t, cfg, 15*time.Second)
		if res.Status != sdk.OK {
			t.Fatalf("run %d: %s %s: %s", run, res.Status, res.Reason, res.Message)
		}
		_, f := summary(t, res)
		swept += f["swept_count"].(int64)
	}
	if swept != 1 {
		t.Errorf("swept %d probes in all, want 1 (the instance's own leftover)", swept)
	}
	after := snapshot(t, c)
	if !slices.Equal(before, after) {
		t.Errorf("mailbox changed:\nbefore:\n  %s\nafter:\n  %s", strings.Join(before, "\n  "), strings.Join(after, "\n  "))
	}
	// The two-header message and the one whose value is no token.
	if n := countProbes(t, c, id+"."); n != 2 {
		t.Errorf("%d messages mention this instance's id, want the 2 seeds that do", n)
	}
}

// seeded returns the UIDs of the messages whose subject contains marker.
func seeded(t *testing.T, c *imapclient.Client, marker string) []imap.UID {
	t.Helper()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: marker}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.AllUIDs()
}
