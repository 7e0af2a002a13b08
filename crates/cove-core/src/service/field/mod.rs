//! On-site repair: field engineers with skills, territories and working
//! plans; slots computed from those plans with capacity and travel buffers;
//! appointments booked, rescheduled, cancelled, dispatched, completed with a
//! report of the parts used and rated once; and what the customer sees.

pub mod appointments;
pub mod board;
pub mod engineers;
pub mod settings;
pub mod slots;
pub mod status;
pub mod view;

pub use appointments::{Appointment, Booked, Booking, PartUsed, Report, Transition};
pub use engineers::{Engineer, EngineerInput};
pub use settings::Scheduling;
pub use slots::{Slot, SlotQuery};
pub use status::Status;
pub use view::CustomerAppointment;
