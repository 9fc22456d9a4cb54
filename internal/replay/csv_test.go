package replay_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/replay"
)

// dataFile is the REES46 sample as seen from this package's directory.
func dataFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join("..", "..", replay.DefaultFile)
	_, err := os.Stat(p)
	require.NoError(t, err, "the REES46 sample must be at ../shared/data relative to the project root")
	return p
}

func TestReadCSV_REES46(t *testing.T) {
	rows, err := replay.ReadCSV(dataFile(t))
	require.NoError(t, err)
	require.Len(t, rows, 17434)

	// Facts from ../shared/data/clickstream/SOURCES.md.
	byType := map[string]int{}
	users := map[string]bool{}
	ids := map[string]bool{}
	var purchaseCents int64
	for i, r := range rows {
		require.Equal(t, i+2, r.Line, "rows in file order, header on line 1")
		if i > 0 {
			require.False(t, r.EventTime.Before(rows[i-1].EventTime), "line %d: rows sorted by time", r.Line)
		}
		require.Equal(t, time.UTC, r.EventTime.Location())
		byType[r.EventType]++
		users[r.UserID] = true
		require.False(t, ids[r.MessageID], "line %d: messageId %s repeated", r.Line, r.MessageID)
		ids[r.MessageID] = true
		if r.EventType == "purchase" {
			purchaseCents += int64(r.Price*100 + 0.5)
		}
	}
	require.Equal(t, map[string]int{"view": 17055, "cart": 165, "purchase": 214}, byType)
	require.Len(t, users, 4504)
	require.Equal(t, int64(5944263), purchaseCents)

	first := rows[0]
	require.Equal(t, replay.Row{
		Line: 2, EventTime: time.Date(2019, 10, 1, 0, 0, 0, 0, time.UTC), EventType: "view",
		ProductID: "44600062", CategoryID: "2103807459595387724", CategoryCode: "", Brand: "shiseido",
		Price: 35.79, UserID: "541312140", UserSession: "72d76fde-8bb3-4e00-8c23-a032dfed738c",
		MessageID: first.MessageID,
	}, first)

	// Cross-check every row against a naive split of the raw lines.
	f, err := os.Open(dataFile(t))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for i := 0; sc.Scan(); i++ {
		fields := strings.Split(sc.Text(), ",")
		r := rows[i]
		require.Equal(t, []string{fields[1], fields[2], fields[3], fields[4], fields[5], fields[7], fields[8]},
			[]string{r.EventType, r.ProductID, r.CategoryID, r.CategoryCode, r.Brand, r.UserID, r.UserSession}, "line %d", r.Line)
	}
	require.NoError(t, sc.Err())
}

func TestReadCSV_Deterministic(t *testing.T) {
	a, err := replay.ReadCSV(dataFile(t))
	require.NoError(t, err)
	b, err := replay.ReadCSV(dataFile(t))
	require.NoError(t, err)
	require.Equal(t, a, b)
	for _, r := range a {
		require.True(t, strings.HasPrefix(r.OrderID(), "rees46-order-"))
	}
}

func TestReadCSV_Errors(t *testing.T) {
	const header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
	const good = "2019-10-01 00:00:00 UTC,view,1,2,a.b,br,1.50,10,s1\n"
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "empty file"},
		{"wrong header", "a,b,c\n", "header is"},
		{"bad time", header + good + "2019-10-01T00:00:00Z,view,1,2,,,1,10,s\n", "line 3: event_time"},
		{"not UTC", header + "2019-10-01 00:00:00 CET,view,1,2,,,1,10,s\n", "line 2: event_time"},
		{"unknown type", header + "2019-10-01 00:00:00 UTC,click,1,2,,,1,10,s\n", `line 2: event_type "click"`},
		{"bad price", header + "2019-10-01 00:00:00 UTC,view,1,2,,,abc,10,s\n", `line 2: price "abc"`},
		{"negative price", header + "2019-10-01 00:00:00 UTC,view,1,2,,,-1,10,s\n", `line 2: price "-1"`},
		{"no user", header + "2019-10-01 00:00:00 UTC,view,1,2,,,1,,s\n", "line 2: user_id is empty"},
		{"no session", header + "2019-10-01 00:00:00 UTC,view,1,2,,,1,10,\n", "line 2: user_session is empty"},
		{"fields", header + good + "2019-10-01 00:00:00 UTC,view,1\n", "line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.csv")
			require.NoError(t, os.WriteFile(p, []byte(tc.content), 0o600))
			_, err := replay.ReadCSV(p)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, p)
		})
	}
	_, err := replay.ReadCSV(filepath.Join(t.TempDir(), "missing.csv"))
	require.ErrorContains(t, err, "opening REES46 file")
}
