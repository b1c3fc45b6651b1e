//! The await graph and task dumps: asyncio 3.14's `capture_call_graph` / `print_call_graph`
//! and `python -m asyncio ps` / `pstree`, for aio's tasks.
//!
//! What is recorded, always, and what it costs:
//!
//! - **Where each task is suspended.** Every await on an aio primitive (`sleep`, `Lock`,
//!   `Event`, `Semaphore`, `Condition`, `Barrier`, `Queue::get`/`put`/`join`, stream reads
//!   and `drain`, awaiting a task, `gather`, `wait`, `as_completed`, `shield`, a `TaskGroup`)
//!   keeps the source line it was created at (`#[track_caller]`; through `.await` on a
//!   `Task`, the line of the `.await`) and writes it to the thread's park slot
//!   (`aio_observe`) when it parks. Each task step takes what the step left there: one
//!   thread-local write per park, two per step, one pointer per task.
//! - **Where each task was created**, one more pointer per task.
//! - **Who awaits whom** is not recorded at all: it is found when asked, from the wakers
//!   each pending task holds. A task awaiting another (`task.await`, `shield`) left its
//!   waker with it; `gather`, `wait`, `as_completed` and `TaskGroup` register, on each child,
//!   the state whose wakers they wake, so their children are "awaited by" whoever is polling
//!   the combinator. `wait_for`/`timeout` are transparent: the await they wrap is the one seen.
//!
//! A waker is matched to its task by address: a task's wakers carry aio-task's own waker
//! vtable and point at the task's allocation, which is also the task's identity (see
//! `raw`). Only addresses are compared (nothing is dereferenced).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::panic::Location;

use std::task::Waker;

use aio_scheduler::{EventLoop, get_running_loop};

use crate::task::Registry;
use crate::{Error, TaskRef};

/// Something that wakes the tasks waiting on a child: the state of a `gather`, `wait`,
/// `as_completed` or `TaskGroup`, recorded on each child.
pub(crate) trait Awaiter {
    /// Calls `f` with each waker it would wake now.
    fn for_each_waker(&self, f: &mut dyn FnMut(&Waker));
}

/// A task's state in a dump.
///
/// # Examples
///
/// ```
/// use aio_task::{TaskState, capture_call_graph, current_task, run};
/// let state = run(async { capture_call_graph(&current_task().unwrap()).task.state })?;
/// assert_eq!(state, TaskState::Running);
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled right now (the task that asked).
    Running,
    /// Suspended in an await (or scheduled to run).
    Pending,
    /// Cancelled, its future not dropped yet.
    Cancelling,
    /// Finished: with a value, an error, or cancelled.
    Done,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Running => "running",
            TaskState::Pending => "pending",
            TaskState::Cancelling => "cancelling",
            TaskState::Done => "done",
        })
    }
}

/// One task as a dump shows it.
///
/// # Examples
///
/// ```
/// use aio_task::{create_task, run, task_infos};
/// let infos = run(async {
///     let child = create_task(aio_scheduler::sleep(10))?;
///     child.set_name("sleeper");
///     aio_scheduler::sleep(0).await?; // the child runs to its sleep
///     let infos = task_infos()?;
///     child.cancel(None);
///     Ok::<_, aio_task::Error>(infos)
/// })??;
/// let sleeper = infos.iter().find(|t| t.name == "sleeper").unwrap();
/// assert_eq!(sleeper.id, 2);
/// assert!(sleeper.created_at.file().ends_with(".rs"));
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's number ([`TaskRef::id`]).
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Running, pending, cancelling or done.
    pub state: TaskState,
    /// The await its last step parked at, when that was an aio primitive.
    pub suspended_at: Option<&'static Location<'static>>,
    /// Where it was created.
    pub created_at: &'static Location<'static>,
    /// The ids of the tasks waiting for it.
    pub awaited_by: Vec<u64>,
}

impl TaskInfo {
    fn of(task: &TaskRef) -> TaskInfo {
        let state = if task.done() {
            TaskState::Done
        } else if task.is_running() {
            TaskState::Running
        } else if task.cancel_requested() {
            TaskState::Cancelling
        } else {
            TaskState::Pending
        };
        TaskInfo {
            id: task.id(),
            name: task.get_name(),
            state,
            // A running task's record is of its previous step.
            suspended_at: if state == TaskState::Running {
                None
            } else {
                task.parked_at()
            },
            created_at: task.created_at(),
            awaited_by: Vec::new(),
        }
    }

    fn suspended(&self) -> String {
        match (self.state, self.suspended_at) {
            (TaskState::Running, _) => "(running)".to_owned(),
            (_, Some(at)) => at.to_string(),
            (_, None) => "?".to_owned(),
        }
    }
}

/// Every live task of `event_loop` with who awaits it (run on the loop's thread).
fn snapshot(event_loop: &EventLoop) -> Vec<(TaskRef, TaskInfo)> {
    let tasks = event_loop.extension::<Registry>().live();
    let by_address: HashMap<usize, u64> = tasks.iter().map(|t| (t.address(), t.id())).collect();
    tasks
        .into_iter()
        .map(|task| {
            let mut info = TaskInfo::of(&task);
            let awaited_by = RefCell::new(Vec::new());
            task.for_each_waiter(&mut |waker| {
                if let Some(&id) = crate::raw::task_of(waker).and_then(|key| by_address.get(&key)) {
                    let mut list = awaited_by.borrow_mut();
                    if id != info.id && !list.contains(&id) {
                        list.push(id);
                    }
                }
            });
            info.awaited_by = awaited_by.into_inner();
            info.awaited_by.sort_unstable();
            (task, info)
        })
        .collect()
}

/// The running loop's live tasks as [`TaskInfo`]s, ordered by id.
///
/// # Errors
///
/// `Runtime(NoRunningLoop)` outside a running loop.
///
/// # Examples
///
/// ```
/// let infos = aio_task::run(async { aio_task::task_infos() })??;
/// assert_eq!(infos.len(), 1); // the main task
/// assert_eq!(infos[0].state, aio_task::TaskState::Running);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn task_infos() -> Result<Vec<TaskInfo>, Error> {
    Ok(task_infos_of(&get_running_loop()?))
}

/// [`task_infos`] for a given loop, from its thread (running or not).
///
/// # Examples
///
/// ```
/// use aio_task::EventLoopExt;
/// let lp = aio_scheduler::EventLoop::new()?;
/// let task = lp.create_task(aio_scheduler::sleep(10))?;
/// lp.run_until_complete(aio_scheduler::sleep(0))??; // the task runs to its sleep
/// let infos = aio_task::task_infos_of(&lp);
/// assert_eq!(infos[0].suspended_at.map(|at| at.line()), Some(line!() - 3));
/// task.cancel(None);
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn task_infos_of(event_loop: &EventLoop) -> Vec<TaskInfo> {
    let mut infos: Vec<TaskInfo> = snapshot(event_loop).into_iter().map(|(_, i)| i).collect();
    infos.sort_by_key(|i| i.id);
    infos
}

/// A task, where it is suspended, and the chains of who awaits it and what it awaits
/// (asyncio 3.14's `FutureCallGraph`, from [`capture_call_graph`]).
///
/// # Examples
///
/// ```
/// use aio_task::{capture_call_graph, create_task, run};
/// let graph = run(async {
///     let child = create_task(aio_scheduler::sleep(10))?;
///     let waiter = create_task(async move { child.await })?;
///     aio_scheduler::sleep(0).await?;
///     aio_scheduler::sleep(0).await?;
///     let graph = capture_call_graph(&waiter.erase());
///     waiter.cancel(None);
///     Ok::<_, aio_task::Error>(graph)
/// })??;
/// assert_eq!(graph.task.name, "Task-3");
/// assert_eq!(graph.awaits[0].task.name, "Task-2");
/// # Ok::<(), aio_task::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CallGraph {
    /// The task.
    pub task: TaskInfo,
    /// The tasks waiting for it, each with those waiting for it in turn.
    pub awaited_by: Vec<CallGraph>,
    /// The tasks it waits for, each with what it waits for in turn.
    pub awaits: Vec<CallGraph>,
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Up,
    Down,
}

fn build(
    id: u64,
    infos: &HashMap<u64, TaskInfo>,
    children: &HashMap<u64, Vec<u64>>,
    direction: Option<Direction>,
    path: &mut Vec<u64>,
) -> Option<CallGraph> {
    let info = infos.get(&id)?.clone();
    path.push(id);
    let mut graph = CallGraph {
        awaited_by: Vec::new(),
        awaits: Vec::new(),
        task: info,
    };
    if direction != Some(Direction::Down) {
        for &parent in &graph.task.awaited_by {
            if !path.contains(&parent) {
                if let Some(g) = build(parent, infos, children, Some(Direction::Up), path) {
                    graph.awaited_by.push(g);
                }
            }
        }
    }
    if direction != Some(Direction::Up) {
        for &child in children.get(&id).into_iter().flatten() {
            if !path.contains(&child) {
                if let Some(g) = build(child, infos, children, Some(Direction::Down), path) {
                    graph.awaits.push(g);
                }
            }
        }
    }
    path.pop();
    Some(graph)
}

/// The await graph around `task` (asyncio 3.14's `capture_call_graph`): the task with its
/// state and where it is suspended, the tasks awaiting it (and theirs, up to the top) and
/// the tasks it awaits (and theirs, down to the leaves). Call it on the task's loop thread.
/// A task that is done has no edges.
///
/// # Examples
///
/// ```
/// use aio_task::{capture_call_graph, create_task, current_task, gather, run};
/// let graph = run(async {
///     let main = current_task().unwrap();
///     let a = create_task(aio_scheduler::sleep(0.05))?;
///     let b = create_task(aio_scheduler::sleep(0.05))?;
///     let probe = create_task(async move { capture_call_graph(&main) })?;
///     gather([&a, &b]).await;
///     probe.await
/// })??;
/// assert_eq!(graph.task.name, "Task-1");
/// let mut awaited: Vec<_> = graph.awaits.iter().map(|g| g.task.name.as_str()).collect();
/// awaited.sort();
/// assert_eq!(awaited, ["Task-2", "Task-3"]); // through gather
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn capture_call_graph(task: &TaskRef) -> CallGraph {
    let infos: Vec<TaskInfo> = match task.get_loop() {
        Some(event_loop) => task_infos_of(&event_loop),
        None => Vec::new(),
    };
    let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
    for info in &infos {
        for &parent in &info.awaited_by {
            children.entry(parent).or_default().push(info.id);
        }
    }
    let infos: HashMap<u64, TaskInfo> = infos.into_iter().map(|i| (i.id, i)).collect();
    build(task.id(), &infos, &children, None, &mut Vec::new()).unwrap_or_else(|| CallGraph {
        task: TaskInfo::of(task),
        awaited_by: Vec::new(),
        awaits: Vec::new(),
    })
}

/// [`capture_call_graph`] as text, as [`print_call_graph`] prints it.
///
/// # Examples
///
/// ```
/// use aio_task::{create_task, format_call_graph, run};
/// let text = run(async {
///     let child = create_task(aio_scheduler::sleep(10))?;
///     aio_scheduler::sleep(0).await?;
///     let text = format_call_graph(&child.erase());
///     child.cancel(None);
///     Ok::<_, aio_task::Error>(text)
/// })??;
/// assert!(text.starts_with("* Task(name='Task-2', id=2, state=pending)"));
/// assert!(text.contains("+ suspended at "));
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn format_call_graph(task: &TaskRef) -> String {
    let graph = capture_call_graph(task);
    let mut out = String::new();
    write_node(&mut out, &graph, 0, None);
    out
}

fn write_node(out: &mut String, graph: &CallGraph, indent: usize, direction: Option<Direction>) {
    let pad = " ".repeat(indent);
    let t = &graph.task;
    let _ = writeln!(
        out,
        "{pad}* Task(name='{}', id={}, state={})",
        t.name, t.id, t.state
    );
    let _ = writeln!(out, "{pad}  + suspended at {}", t.suspended());
    let _ = writeln!(out, "{pad}  + created at {}", t.created_at);
    if direction != Some(Direction::Down) && !graph.awaited_by.is_empty() {
        let _ = writeln!(out, "{pad}  + Awaited by:");
        for g in &graph.awaited_by {
            write_node(out, g, indent + 5, Some(Direction::Up));
        }
    }
    if direction != Some(Direction::Up) && !graph.awaits.is_empty() {
        let _ = writeln!(out, "{pad}  + Awaits:");
        for g in &graph.awaits {
            write_node(out, g, indent + 5, Some(Direction::Down));
        }
    }
}

/// Prints [`format_call_graph`] to stdout (asyncio 3.14's `print_call_graph`).
///
/// # Examples
///
/// ```
/// aio_task::run(async {
///     aio_task::print_call_graph(&aio_task::current_task().unwrap());
/// })?;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn print_call_graph(task: &TaskRef) {
    print!("{}", format_call_graph(task));
}

/// The running loop's tasks as a table like `python -m asyncio ps` and a tree like
/// `python -m asyncio pstree`, as text (what [`dump_tasks`] prints).
///
/// # Examples
///
/// ```
/// let text = aio_task::run(async {
///     Ok::<_, aio_task::Error>(aio_task::format_tasks(&aio_scheduler::get_running_loop()?))
/// })??;
/// assert!(text.contains("ID  NAME"));
/// assert!(text.contains("└── (T) Task-1"));
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn format_tasks(event_loop: &EventLoop) -> String {
    let infos = task_infos_of(event_loop);
    let mut out = String::new();
    let names: HashMap<u64, &str> = infos.iter().map(|i| (i.id, i.name.as_str())).collect();
    let mut rows = vec![[
        "ID".to_owned(),
        "NAME".to_owned(),
        "STATE".to_owned(),
        "SUSPENDED AT".to_owned(),
        "AWAITED BY".to_owned(),
        "CREATED AT".to_owned(),
    ]];
    for info in &infos {
        let awaited_by = if info.awaited_by.is_empty() {
            "-".to_owned()
        } else {
            info.awaited_by
                .iter()
                .map(|id| format!("{} ({id})", names.get(id).unwrap_or(&"?")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        rows.push([
            info.id.to_string(),
            info.name.clone(),
            info.state.to_string(),
            info.suspended(),
            awaited_by,
            info.created_at.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let _ = writeln!(out, "Tasks of event loop {}:", event_loop.handle().id());
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out.push('\n');
    // The tree: from the tasks nobody awaits down to what each awaits.
    let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
    for info in &infos {
        for &parent in &info.awaited_by {
            children.entry(parent).or_default().push(info.id);
        }
    }
    let by_id: HashMap<u64, &TaskInfo> = infos.iter().map(|i| (i.id, i)).collect();
    let mut shown = HashSet::new();
    let roots: Vec<u64> = infos
        .iter()
        .filter(|i| i.awaited_by.iter().all(|p| !by_id.contains_key(p)))
        .map(|i| i.id)
        .collect();
    for (n, root) in roots.iter().enumerate() {
        let last = n + 1 == roots.len();
        tree_node(
            &mut out,
            *root,
            "",
            last,
            &by_id,
            &children,
            &mut Vec::new(),
            &mut shown,
        );
    }
    // What is left waits in a cycle (nobody outside it awaits it): a deadlock.
    for info in &infos {
        if !shown.contains(&info.id) {
            let _ = writeln!(out, "(cycle: these tasks await each other)");
            tree_node(
                &mut out,
                info.id,
                "",
                true,
                &by_id,
                &children,
                &mut Vec::new(),
                &mut shown,
            );
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn tree_node(
    out: &mut String,
    id: u64,
    prefix: &str,
    last: bool,
    by_id: &HashMap<u64, &TaskInfo>,
    children: &HashMap<u64, Vec<u64>>,
    path: &mut Vec<u64>,
    shown: &mut HashSet<u64>,
) {
    let Some(info) = by_id.get(&id) else {
        return;
    };
    let branch = if last { "└── " } else { "├── " };
    if path.contains(&id) {
        let _ = writeln!(
            out,
            "{prefix}{branch}(T) {} ↺ (awaits its own awaiter: cycle)",
            info.name
        );
        return;
    }
    shown.insert(id);
    let _ = writeln!(
        out,
        "{prefix}{branch}(T) {} [id {}, {}] {}",
        info.name,
        id,
        info.state,
        info.suspended()
    );
    path.push(id);
    let next_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
    let kids = children.get(&id).cloned().unwrap_or_default();
    for (n, kid) in kids.iter().enumerate() {
        tree_node(
            out,
            *kid,
            &next_prefix,
            n + 1 == kids.len(),
            by_id,
            children,
            path,
            shown,
        );
    }
    path.pop();
}

/// Prints the running loop's tasks to stderr: a table like `python -m asyncio ps` (id, name,
/// state, where suspended, awaited by, where created) and a tree like `pstree`. With
/// `all_loops`, every other loop of the process prints its own as well, on its own thread
/// at its next iteration (through `call_soon_threadsafe`).
///
/// # Errors
///
/// `Runtime(NoRunningLoop)` outside a running loop, unless `all_loops`.
///
/// # Examples
///
/// ```
/// aio_task::run(async { aio_task::dump_tasks(false) })??;
/// # Ok::<(), aio_task::Error>(())
/// ```
pub fn dump_tasks(all_loops: bool) -> Result<(), Error> {
    let current = get_running_loop().ok();
    if all_loops {
        let me = current.as_ref().map(|l| l.handle().id());
        for handle in aio_scheduler::observe::loops() {
            if Some(handle.id()) != me {
                let _ = handle.call_soon_threadsafe(|| {
                    if let Ok(event_loop) = get_running_loop() {
                        eprint!("{}", event_loop.dump());
                    }
                });
            }
        }
    }
    match current {
        Some(event_loop) => {
            eprint!("{}", event_loop.dump());
            Ok(())
        }
        None if all_loops => Ok(()),
        None => Err(aio_scheduler::Error::NoRunningLoop.into()),
    }
}
