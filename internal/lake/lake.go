package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/sillage/sillage/sink"
)

// ErrNoFiles is wrapped by the error of a query naming a table that has no
// Parquet files yet.
var ErrNoFiles = errors.New("no Parquet files")

// ErrNotLocal is wrapped by Open's error for a root that is not a local
// folder (s3://…).
var ErrNotLocal = errors.New("lake query reads local lakes only")

// Lake is an in-memory DuckDB database with a view per table of a lake.
type Lake struct {
	dir     string
	db      *sql.DB
	tables  []string // tables with a view
	missing []string // tables without files
}

// Open opens the lake at root (a path or a file:// URL): the folder must
// exist; tables without files get no view.
func Open(ctx context.Context, root string) (*Lake, error) {
	dir, err := LocalDir(root)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("lake root %s: %w", root, err)
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lake root %s does not exist (point -sink.root or -data.dir at the sink's lake)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("lake root: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("lake root %s is not a directory", dir)
	}
	if strings.ContainsAny(dir, "*?[]{}'") {
		return nil, fmt.Errorf("lake root %s: DuckDB's file globs cannot name a path with any of * ? [ ] { } '", dir)
	}
	l := &Lake{dir: dir}
	for _, t := range sink.Tables {
		ok, err := hasParquet(filepath.Join(dir, t))
		if err != nil {
			return nil, fmt.Errorf("listing table %s: %w", t, err)
		}
		if ok {
			l.tables = append(l.tables, t)
		} else {
			l.missing = append(l.missing, t)
		}
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("opening DuckDB: %w", err)
	}
	// One connection: the session settings below hold for every query.
	db.SetMaxOpenConns(1)
	l.db = db
	setup := []string{
		// No extension is ever downloaded (the linked ones are parquet, json, icu…).
		"SET autoinstall_known_extensions = false",
		"SET TimeZone = 'UTC'",
	}
	store, err := sink.NewLocalStore(dir)
	if err != nil {
		db.Close()
		return nil, err
	}
	for _, t := range l.tables {
		from, err := readTable(ctx, store, dir, t)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("listing table %s: %w", t, err)
		}
		setup = append(setup, fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM %s", t, from))
	}
	for _, s := range setup {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, fmt.Errorf("preparing the lake's views (%s): %w", s, err)
		}
	}
	return l, nil
}

// readTable is the DuckDB table function for one table: the glob of
// ReadParquet, or, while a compaction is in progress or was interrupted
// (files superseded by a merged file sit beside it), the explicit list of
// the live files that sink.Files gives, so that no row counts twice.
func readTable(ctx context.Context, store sink.ObjectStore, dir, table string) (string, error) {
	live, err := sink.Files(ctx, store, table)
	if err != nil {
		return "", err
	}
	all, err := store.List(ctx, table+"/")
	if err != nil {
		return "", err
	}
	n := 0
	for _, o := range all {
		if strings.HasSuffix(o.Key, ".parquet") {
			n++
		}
	}
	if len(live) == n {
		return ReadParquet(filepath.ToSlash(dir), table), nil
	}
	paths := make([]string, len(live))
	for i, f := range live {
		paths[i] = "'" + filepath.ToSlash(filepath.Join(dir, filepath.FromSlash(f.Key))) + "'"
	}
	return fmt.Sprintf("read_parquet([%s], hive_partitioning = true, hive_types = {'dt': DATE, 'hr': INTEGER}, union_by_name = true)",
		strings.Join(paths, ", ")), nil
}

// ReadParquet is the DuckDB table function reading one table of the lake
// at root (a local folder, or a URL DuckDB reads through an extension).
func ReadParquet(root, table string) string {
	return fmt.Sprintf("read_parquet('%s/%s/**/[!._]*.parquet', hive_partitioning = true, hive_types = {'dt': DATE, 'hr': INTEGER}, union_by_name = true)",
		strings.TrimSuffix(root, "/"), table)
}

// LocalDir returns the local folder a lake root names (a path, or a
// file:// URL as -sink.root accepts it); other schemes are refused with an
// error wrapping ErrNotLocal that says how to read them.
func LocalDir(root string) (string, error) {
	if strings.TrimSpace(root) == "" {
		return "", errors.New("lake root is empty")
	}
	if strings.HasPrefix(strings.ToLower(root), "s3://") {
		shown := root
		if u, err := url.Parse(root); err == nil {
			shown = u.Redacted()
		}
		return "", fmt.Errorf("lake root %s: %w: the DuckDB linked into sillage has no httpfs extension and downloads none. "+
			"Read an S3 lake with the duckdb CLI (INSTALL httpfs; CREATE SECRET (TYPE s3, …); "+
			"read_parquet('s3://…/events/**/[!._]*.parquet', hive_partitioning = true)), or copy it to a folder "+
			"(aws s3 sync, rclone) and point -sink.root there: see README, \"Reading the lake\"", shown, ErrNotLocal)
	}
	dir, err := sink.LocalRoot(root)
	if err != nil {
		if strings.Contains(err.Error(), "unsupported scheme") {
			return "", fmt.Errorf("lake root: %w: %w", ErrNotLocal, err)
		}
		return "", fmt.Errorf("lake root: %w", err)
	}
	return dir, nil
}

// hasParquet tells whether dir holds a visible .parquet file at any depth.
func hasParquet(dir string) (bool, error) {
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		name := d.Name()
		if p != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(name, ".parquet") {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found, err
}

// Dir is the lake's absolute folder.
func (l *Lake) Dir() string { return l.dir }

// Tables lists the tables that have a view (at least one file).
func (l *Lake) Tables() []string { return append([]string(nil), l.tables...) }

// Close releases DuckDB.
func (l *Lake) Close() error { return l.db.Close() }

// Column describes a result column.
type Column struct {
	Name string
	Type string // DuckDB's type name: VARCHAR, BIGINT, DOUBLE, TIMESTAMP WITH TIME ZONE…
}

// Query runs SQL (several statements separated by ";" run in turn, the
// last one's rows are returned) and calls row for each result row; the
// values are as duckdb-go scans them (nil for NULL) and valid only during
// the call.
func (l *Lake) Query(ctx context.Context, query string, header func([]Column) error, row func([]any) error) error {
	rows, err := l.db.QueryContext(ctx, query)
	if err != nil {
		return l.explain(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	cols := make([]Column, len(types))
	for i, t := range types {
		cols[i] = Column{Name: t.Name(), Type: t.DatabaseTypeName()}
	}
	if err := header(cols); err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := row(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return l.explain(err)
	}
	return nil
}

var missingTable = regexp.MustCompile(`Table with name "?([A-Za-z0-9_]+)"? does not exist`)

// explain turns DuckDB's error for a table of the lake without files into
// one that says so.
func (l *Lake) explain(err error) error {
	var de *duckdb.Error
	if !errors.As(err, &de) || de.Type != duckdb.ErrorTypeCatalog {
		return err
	}
	m := missingTable.FindStringSubmatch(de.Msg)
	if m == nil {
		return err
	}
	name := strings.ToLower(m[1])
	for _, t := range l.missing {
		if t != name {
			continue
		}
		if len(l.tables) == 0 {
			return fmt.Errorf("table %s: %w under %s: the lake is empty (the sink writes a batch's files after -sink.max-rows rows or -sink.max-age)",
				name, ErrNoFiles, filepath.Join(l.dir, name))
		}
		return fmt.Errorf("table %s: %w under %s yet (tables with files: %s)", name, ErrNoFiles,
			filepath.Join(l.dir, name), strings.Join(l.tables, ", "))
	}
	return fmt.Errorf("%w (the lake's tables: %s)", err, strings.Join(sink.Tables, ", "))
}
