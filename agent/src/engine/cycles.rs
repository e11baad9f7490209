//! Dependency cycles: the resources that can never start because they (transitively)
//! require themselves. Found before the deploy starts, so they fail at once instead of
//! waiting for ever.

/// For every resource on a dependency cycle, the number of its cycle (its strongly
/// connected component); `None` for the others. Only resources that a topological pass
/// cannot reach are looked at, so the common acyclic graph costs one linear pass.
pub(super) fn cycle_components(remaining: &[u32], dependents: &[Vec<usize>]) -> Vec<Option<u32>> {
    let count = remaining.len();
    let mut left = remaining.to_vec();
    let mut queue: Vec<usize> = (0..count).filter(|i| left[*i] == 0).collect();
    let mut reached = vec![false; count];
    while let Some(node) = queue.pop() {
        reached[node] = true;
        for &dependent in &dependents[node] {
            left[dependent] -= 1;
            if left[dependent] == 0 {
                queue.push(dependent);
            }
        }
    }
    let mut components = vec![None; count];
    if reached.iter().all(|r| *r) {
        return components;
    }
    // Tarjan's algorithm, iterative (graphs may be deep), over the unreached resources.
    let mut index = vec![u32::MAX; count];
    let mut low = vec![0u32; count];
    let mut on_stack = vec![false; count];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_index = 0u32;
    let mut next_component = 0u32;
    for root in (0..count).filter(|i| !reached[*i]) {
        if index[root] != u32::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&mut (node, ref mut edge)) = work.last_mut() {
            if *edge == 0 && index[node] == u32::MAX {
                index[node] = next_index;
                low[node] = next_index;
                next_index += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&next) = dependents[node].get(*edge) {
                *edge += 1;
                if reached[next] {
                    continue;
                }
                if index[next] == u32::MAX {
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut members = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    members.push(member);
                    if member == node {
                        break;
                    }
                }
                let self_loop = dependents[node].contains(&node);
                if members.len() > 1 || self_loop {
                    for member in members {
                        components[member] = Some(next_component);
                    }
                    next_component += 1;
                }
            }
        }
    }
    components
}
