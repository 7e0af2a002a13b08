//! Tickets with SLAs: pre- and after-sales conversations between customers
//! and agents, statuses configurable over fixed kinds, assignment to agents
//! and teams, and business-time SLA timers whose breaches a durable job
//! records.

pub mod policies;
pub mod sla;
pub mod statuses;
pub mod teams;
pub mod ticket;

pub use ticket::{
    assign, check_breaches, detail, get, list, open, reply, set_priority, set_status, Attachment,
    Author, Detail, Filter, Message, NewTicket, Ticket, TicketEvent, Timer, CHECK_JOB,
};
