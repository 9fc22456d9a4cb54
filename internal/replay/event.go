package replay

import "time"

// event is one Segment track call as sent in a /v1/batch body.
type event struct {
	Type       string     `json:"type"`
	Event      string     `json:"event"`
	MessageID  string     `json:"messageId"`
	UserID     string     `json:"userId"`
	Timestamp  string     `json:"timestamp"`
	SentAt     string     `json:"sentAt,omitempty"`
	Properties properties `json:"properties"`
	Context    evContext  `json:"context"`
}

type properties struct {
	ProductID    string    `json:"product_id"`
	CategoryID   string    `json:"category_id,omitempty"`
	CategoryCode string    `json:"category_code,omitempty"`
	Brand        string    `json:"brand,omitempty"`
	Price        float64   `json:"price"`
	Currency     string    `json:"currency"`
	Quantity     int       `json:"quantity"`
	UserSession  string    `json:"user_session"`
	OrderID      string    `json:"order_id,omitempty"`
	Revenue      *float64  `json:"revenue,omitempty"`
	Products     []product `json:"products,omitempty"`
}

// product is an item of Order Completed's products list (Segment's
// e-commerce spec).
type product struct {
	ProductID string  `json:"product_id"`
	Category  string  `json:"category,omitempty"`
	Brand     string  `json:"brand,omitempty"`
	Price     float64 `json:"price"`
	Quantity  int     `json:"quantity"`
}

type evContext struct {
	Consent consent `json:"consent"`
	Library library `json:"library"`
}

type consent struct {
	CategoryPreferences map[string]bool `json:"categoryPreferences"`
}

type library struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// allConsent grants every category: replayed data is test data treated as
// consented.
var allConsent = map[string]bool{
	"necessary": true, "analytics": true, "personalisation": true, "marketing": true, "advertising": true,
}

var replayLibrary = library{Name: "sillage-replay", Version: "1"}

// toEvent maps a row to its track call; SentAt is set when it is sent.
func toEvent(r Row) event {
	name, _ := EventName(r.EventType) // ReadCSV accepted only known types
	p := properties{
		ProductID:    r.ProductID,
		CategoryID:   r.CategoryID,
		CategoryCode: r.CategoryCode,
		Brand:        r.Brand,
		Price:        r.Price,
		Currency:     "USD",
		Quantity:     1,
		UserSession:  r.UserSession,
	}
	if r.EventType == "purchase" {
		revenue := r.Price
		p.OrderID = r.OrderID()
		p.Revenue = &revenue
		p.Products = []product{{ProductID: r.ProductID, Category: r.CategoryCode, Brand: r.Brand, Price: r.Price, Quantity: 1}}
	}
	return event{
		Type:       "track",
		Event:      name,
		MessageID:  r.MessageID,
		UserID:     r.UserID,
		Timestamp:  r.EventTime.UTC().Format(time.RFC3339Nano),
		Properties: p,
		Context:    evContext{Consent: consent{CategoryPreferences: allConsent}, Library: replayLibrary},
	}
}
