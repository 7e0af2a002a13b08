//! Stock reservations: placing an order reserves, payment commits,
//! timeout and cancellation release, refunds return.
