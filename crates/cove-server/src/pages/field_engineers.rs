//! The dispatch board's back office: field engineers (list, add, edit,
//! deactivate), the brand's scheduling rules, and the completion report a
//! visit closes with (notes and the parts used).
//!
//! Forms post with htmx; on success the console goes to the next page, on a
//! refused input it shows the reason under the form and changes nothing.

use super::console::{Console, Nav};
use super::i18n::Lang;
use super::{form_outcome, html, PageResult};
use crate::error::Path;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::Form;
use cove_core::access::{Access, Area};
use cove_core::clock;
use cove_core::service::field::{
    appointments, engineers, settings, Engineer, EngineerInput, PartUsed, Report, Scheduling,
};
use cove_core::service::tickets::Author;
use cove_core::{audit, Error};
use serde::Deserialize;
use serde_json::json;

pub struct EngineerLabels {
    pub title: &'static str,
    pub board: &'static str,
    pub add: &'static str,
    pub save: &'static str,
    pub code: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub skills: &'static str,
    pub territories: &'static str,
    pub timezone: &'static str,
    pub working_days: &'static str,
    pub hours: &'static str,
    pub days_off: &'static str,
    pub active: &'static str,
    pub inactive: &'static str,
    pub edit: &'static str,
    pub deactivate: &'static str,
    pub deactivate_confirm: &'static str,
    pub none: &'static str,
    pub scheduling: &'static str,
    pub slot_minutes: &'static str,
    pub buffer_minutes: &'static str,
    pub lead_minutes: &'static str,
    pub horizon_days: &'static str,
    pub hint_list: &'static str,
    pub hint_days: &'static str,
}

const ZH: EngineerLabels = EngineerLabels {
    title: "上门工程师",
    board: "调度看板",
    add: "添加工程师",
    save: "保存",
    code: "工号",
    name: "姓名",
    phone: "电话",
    skills: "技能",
    territories: "服务区域",
    timezone: "时区",
    working_days: "工作日",
    hours: "工作时间",
    days_off: "休息日",
    active: "在岗",
    inactive: "已停用",
    edit: "编辑",
    deactivate: "停用",
    deactivate_confirm: "停用后不再为其分配新的上门预约，确定吗？",
    none: "暂无工程师",
    scheduling: "预约规则",
    slot_minutes: "每次上门时长（分钟）",
    buffer_minutes: "路程间隔（分钟）",
    lead_minutes: "最早提前预约（分钟）",
    horizon_days: "最远可约（天）",
    hint_list: "用逗号或空格分隔",
    hint_days: "1 = 周一 … 7 = 周日，逗号分隔",
};

const EN: EngineerLabels = EngineerLabels {
    title: "Field engineers",
    board: "Dispatch board",
    add: "Add engineer",
    save: "Save",
    code: "Code",
    name: "Name",
    phone: "Phone",
    skills: "Skills",
    territories: "Territories",
    timezone: "Time zone",
    working_days: "Working days",
    hours: "Working hours",
    days_off: "Days off",
    active: "Active",
    inactive: "Inactive",
    edit: "Edit",
    deactivate: "Deactivate",
    deactivate_confirm: "No new visits will go to this engineer. Deactivate?",
    none: "No engineers yet",
    scheduling: "Scheduling rules",
    slot_minutes: "Visit length (minutes)",
    buffer_minutes: "Travel buffer (minutes)",
    lead_minutes: "Booking lead time (minutes)",
    horizon_days: "Booking horizon (days)",
    hint_list: "separated by commas or spaces",
    hint_days: "1 = Monday … 7 = Sunday, comma separated",
};

fn labels(console: &Console) -> &'static EngineerLabels {
    match console.lang {
        Lang::Zh => &ZH,
        _ => &EN,
    }
}

/// An engineer's fields as the forms show them.
pub struct EngineerForm {
    pub id: String,
    pub code: String,
    pub name: String,
    pub phone: String,
    pub skills: String,
    pub territories: String,
    pub timezone: String,
    pub working_days: String,
    pub day_start: String,
    pub day_end: String,
    pub days_off: String,
    pub active: bool,
}

impl EngineerForm {
    /// The add form: a weekday plan in the team's zone.
    fn blank() -> Self {
        Self {
            id: String::new(),
            code: String::new(),
            name: String::new(),
            phone: String::new(),
            skills: String::new(),
            territories: String::new(),
            timezone: "Asia/Shanghai".into(),
            working_days: "1,2,3,4,5".into(),
            day_start: "09:00".into(),
            day_end: "18:00".into(),
            days_off: String::new(),
            active: true,
        }
    }
}

fn clock_time(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl From<&Engineer> for EngineerForm {
    fn from(e: &Engineer) -> Self {
        Self {
            id: e.id.clone(),
            code: e.code.clone(),
            name: e.name.clone(),
            phone: e.phone.clone(),
            skills: e.skills.join(", "),
            territories: e.territories.join(", "),
            timezone: e.timezone.clone(),
            working_days: e
                .working_days
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            day_start: clock_time(e.day_start_minute),
            day_end: clock_time(e.day_end_minute),
            days_off: e.days_off.join("\n"),
            active: e.active,
        }
    }
}

#[derive(Template)]
#[template(path = "console/service_engineers.html")]
struct ListPage {
    shell: super::console::Shell,
    l: &'static EngineerLabels,
    engineers: Vec<EngineerForm>,
    /// The add form's starting values.
    e: EngineerForm,
    rules: Scheduling,
    can_write: bool,
}

/// `GET /admin/service/dispatch/engineers`: every engineer, the add form
/// and the scheduling rules.
pub async fn list(State(state): State<AppState>, console: Console) -> PageResult {
    console.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let all = engineers::list(&mut conn).await?;
    let rules = settings::load(&mut conn).await?;
    let l = labels(&console);
    html(&ListPage {
        shell: console.shell(Nav::Area(Area::Service), l.title),
        l,
        engineers: all.iter().map(EngineerForm::from).collect(),
        e: EngineerForm::blank(),
        rules,
        can_write: console.principal().can(Area::Service, Access::Write),
    })
}

#[derive(Template)]
#[template(path = "console/service_engineer.html")]
struct EditPage {
    shell: super::console::Shell,
    l: &'static EngineerLabels,
    e: EngineerForm,
    can_write: bool,
}

/// `GET /admin/service/dispatch/engineers/{id}`: the edit form.
pub async fn edit(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    console.require(Area::Service, Access::Read)?;
    let mut conn = state.db.read().acquire().await.map_err(Error::from)?;
    let engineer = engineers::get(&mut conn, &id).await?;
    let l = labels(&console);
    html(&EditPage {
        shell: console.shell(Nav::Area(Area::Service), l.title),
        l,
        e: EngineerForm::from(&engineer),
        can_write: console.principal().can(Area::Service, Access::Write),
    })
}

/// What the add and edit forms post.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EngineerFields {
    code: String,
    name: String,
    phone: String,
    skills: String,
    territories: String,
    timezone: String,
    working_days: String,
    day_start: String,
    day_end: String,
    days_off: String,
}

fn words(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c == '，' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `HH:MM` as minutes after midnight (24:00 ends a day).
fn minute_of(raw: &str, what: &str) -> Result<u32, Error> {
    let refuse = || {
        Error::invalid(
            "invalid_hours",
            format!("{what} is a time such as 09:00, got {raw:?}"),
        )
    };
    let (h, m) = raw.trim().split_once(':').ok_or_else(refuse)?;
    let h: u32 = h.parse().map_err(|_| refuse())?;
    let m: u32 = m.parse().map_err(|_| refuse())?;
    if m >= 60 || h * 60 + m > 24 * 60 {
        return Err(refuse());
    }
    Ok(h * 60 + m)
}

impl EngineerFields {
    fn input(&self, active: bool) -> Result<EngineerInput, Error> {
        let working_days = words(&self.working_days)
            .iter()
            .map(|d| d.parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                Error::invalid(
                    "invalid_working_days",
                    "working days are numbers from 1 (Monday) to 7 (Sunday)",
                )
            })?;
        Ok(EngineerInput {
            code: self.code.clone(),
            name: self.name.clone(),
            phone: self.phone.clone(),
            skills: words(&self.skills),
            territories: words(&self.territories),
            timezone: self.timezone.trim().to_owned(),
            working_days,
            day_start_minute: minute_of(&self.day_start, "the day's start")?,
            day_end_minute: minute_of(&self.day_end, "the day's end")?,
            days_off: words(&self.days_off),
            active,
        })
    }
}

const ENGINEERS: &str = "/admin/service/dispatch/engineers";

/// Saves an engineer (new when `id` is none) with an audit record.
async fn save(
    state: &AppState,
    console: &Console,
    id: Option<&str>,
    input: EngineerInput,
) -> Result<(), Error> {
    let mut tx = state.db.begin().await?;
    let now = clock::now();
    let (engineer, action) = match id {
        Some(id) => (
            engineers::update(&mut tx, id, &input, now).await?,
            "field_engineer.update",
        ),
        None => (
            engineers::create(&mut tx, &input, now).await?,
            "field_engineer.create",
        ),
    };
    audit::record(
        &mut tx,
        &console.auth.actor(),
        action,
        "field_engineer",
        Some(&engineer.id),
        json!({ "code": engineer.code, "active": engineer.active }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /admin/service/dispatch/engineers`
pub async fn create(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<EngineerFields>,
) -> PageResult {
    console.require(Area::Service, Access::Write)?;
    let result = async { save(&state, &console, None, f.input(true)?).await }.await;
    form_outcome(result, ENGINEERS)
}

/// `POST /admin/service/dispatch/engineers/{id}`: replaces the details and
/// keeps whether the engineer is active.
pub async fn update(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    Form(f): Form<EngineerFields>,
) -> PageResult {
    console.require(Area::Service, Access::Write)?;
    let result = async {
        let mut conn = state.db.read().acquire().await?;
        let active = engineers::get(&mut conn, &id).await?.active;
        drop(conn);
        save(&state, &console, Some(&id), f.input(active)?).await
    }
    .await;
    form_outcome(result, ENGINEERS)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ActiveField {
    /// "false" deactivates, "true" brings the engineer back.
    active: String,
}

/// `POST /admin/service/dispatch/engineers/{id}/active`: deactivates (or
/// reactivates) an engineer; visits already booked stay where they are.
pub async fn set_active(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    Form(f): Form<ActiveField>,
) -> PageResult {
    console.require(Area::Service, Access::Write)?;
    let result = async {
        let active = match f.active.as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(Error::invalid(
                    "invalid_active",
                    format!("active is true or false, got {other:?}"),
                ))
            }
        };
        let mut conn = state.db.read().acquire().await?;
        let e = engineers::get(&mut conn, &id).await?;
        drop(conn);
        let input = EngineerInput {
            code: e.code,
            name: e.name,
            phone: e.phone,
            skills: e.skills,
            territories: e.territories,
            timezone: e.timezone,
            working_days: e.working_days,
            day_start_minute: e.day_start_minute,
            day_end_minute: e.day_end_minute,
            days_off: e.days_off,
            active,
        };
        save(&state, &console, Some(&id), input).await
    }
    .await;
    form_outcome(result, ENGINEERS)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SchedulingFields {
    slot_minutes: String,
    buffer_minutes: String,
    lead_minutes: String,
    horizon_days: String,
}

fn whole(raw: &str, what: &str) -> Result<i64, Error> {
    raw.trim().parse().map_err(|_| {
        Error::invalid(
            "invalid_field_settings",
            format!("{what} is a whole number, got {raw:?}"),
        )
    })
}

/// `POST /admin/service/dispatch/settings`
pub async fn set_scheduling(
    State(state): State<AppState>,
    console: Console,
    Form(f): Form<SchedulingFields>,
) -> PageResult {
    console.require(Area::Service, Access::Write)?;
    let result = async {
        let rules = Scheduling {
            slot_minutes: whole(&f.slot_minutes, "slot_minutes")?,
            buffer_minutes: whole(&f.buffer_minutes, "buffer_minutes")?,
            lead_minutes: whole(&f.lead_minutes, "lead_minutes")?,
            horizon_days: whole(&f.horizon_days, "horizon_days")?,
        };
        let mut tx = state.db.begin().await?;
        settings::save(&mut tx, &rules, clock::now()).await?;
        audit::record(
            &mut tx,
            &console.auth.actor(),
            "field_settings.update",
            "settings",
            None,
            json!(rules),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    form_outcome(result, ENGINEERS)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CompletionFields {
    notes: String,
    /// One part a line: `part number | description | quantity`.
    parts: String,
}

/// Parts as the completion form lists them, one a line.
fn parts(raw: &str) -> Result<Vec<PartUsed>, Error> {
    raw.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            let refuse = || {
                Error::invalid(
                    "invalid_part",
                    format!(
                        "a part line is \"part number | description | quantity\", got {line:?}"
                    ),
                )
            };
            let [number, description, qty] = fields.as_slice() else {
                return Err(refuse());
            };
            Ok(PartUsed {
                part_number: (*number).to_owned(),
                description: Some((*description).to_owned()).filter(|d| !d.is_empty()),
                qty: qty.parse().map_err(|_| refuse())?,
                serial: None,
            })
        })
        .collect()
}

/// `POST /admin/service/dispatch/visits/{id}/complete`: the completion
/// report with the parts used.
pub async fn complete(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    Form(f): Form<CompletionFields>,
) -> PageResult {
    console.require(Area::Service, Access::Write)?;
    let result = async {
        let report = Report {
            parts: parts(&f.parts)?,
            notes: f.notes.clone(),
        };
        let mut tx = state.db.begin().await?;
        let author = Author::Agent {
            user_id: console.auth.user_id.clone(),
        };
        appointments::complete(
            &mut tx,
            state.db.backend(),
            &id,
            &report,
            &author,
            clock::now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    form_outcome(result, "/admin/service/dispatch")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_lines_and_times_parse_or_say_why() {
        let p = parts("MB-X1 | Motherboard | 1\n\nKB-2||2").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].description.as_deref(), Some("Motherboard"));
        assert_eq!(p[1].description, None);
        assert_eq!(p[1].qty, 2);
        assert_eq!(parts("MB-X1 | one").unwrap_err().code(), "invalid_part");
        assert_eq!(minute_of("09:30", "start").unwrap(), 570);
        assert_eq!(minute_of("24:00", "end").unwrap(), 1440);
        assert!(minute_of("25:00", "end").is_err());
        assert!(minute_of("nine", "start").is_err());
    }
}
