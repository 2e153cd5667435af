// Drag and drop for the sales Kanban (/kanban), on dnd-kit (@dnd-kit/core + @dnd-kit/sortable, npm).
// Wrapped by components/kanban_dnd.py; why dnd-kit: docs/architecture.md, "Sales Kanban".
//
// Nothing moves here: a drop only reports (card, stage, before card) to the page's state event, which
// calls the move service; the card snaps back and the board re-renders from the server's answer. So a
// refused move (WIP limit, required fields, permission) leaves the card where it was.
import React, { createContext, useCallback, useContext, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { flushSync } from "react-dom";
import {
  DndContext,
  DragOverlay,
  MouseSensor,
  TouchSensor,
  pointerWithin,
  rectIntersection,
  useDndContext,
  useDroppable,
  useSensor,
  useSensors,
} from "@dnd-kit/core";
import { SortableContext, useSortable, verticalListSortingStrategy } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";

const CARD = "card:";
const COLUMN = "column:";
// The release of a drag is also a click on whatever is under the pointer (often the card's own
// customer link): clicks this soon after a drop are swallowed.
const CLICK_AFTER_DROP_MS = 300;
let lastDrop = 0;

// Screen reader announcements while a card is dragged (the keyboard path is the "Mover para…" menu).
const ACCESSIBILITY = {
  screenReaderInstructions: {
    draggable: "Arraste o cartão com o mouse ou toque longo; pelo teclado use o botão Mover para.",
  },
  announcements: {
    onDragStart: () => "Cartão levantado.",
    onDragOver: () => undefined,
    onDragEnd: ({ over }) => (over ? "Cartão solto; aguardando o servidor." : "Cartão solto fora do quadro."),
    onDragCancel: () => "Movimento cancelado.",
  },
};

// A card under the pointer wins over its column; over empty space of a column, the column.
function cardsFirst(args) {
  const hits = pointerWithin(args);
  const cards = hits.filter((h) => String(h.id).startsWith(CARD));
  if (cards.length) return cards;
  if (hits.length) return hits;
  return rectIntersection(args);
}

// Where the drop puts the card: [stageId, beforeCardId or ""] (empty = end of the column), or null
// for a drop that changes nothing.
function dropTarget(active, over, pointerY) {
  const data = over.data.current || {};
  const stageId = String(data.stageId || "");
  if (!stageId) return null;
  if (!String(over.id).startsWith(CARD)) return [stageId, ""];
  const overCard = String(data.cardId);
  const sortable = data.sortable || { items: [], index: 0 };
  const items = sortable.items.map((id) => String(id).slice(CARD.length));
  const from = active.data.current || {};
  const after = (index) => (index + 1 < items.length ? items[index + 1] : "");
  if (String(from.stageId) === stageId) {
    // Inside one column the sortable strategy already shows the new order: moving down lands after
    // the card hovered, moving up before it (arrayMove semantics).
    const activeIndex = from.sortable ? from.sortable.index : -1;
    if (activeIndex === sortable.index) return null;
    return [stageId, activeIndex < sortable.index ? after(sortable.index) : overCard];
  }
  // Into another column: before the hovered card, or after it when the pointer is on its lower half.
  const lower = pointerY !== null && pointerY > over.rect.top + over.rect.height / 2;
  return [stageId, lower ? after(sortable.index) : overCard];
}

// Where the pointer (or finger) was at the drop: where the drag started plus how far it went.
function pointerAt(activatorEvent, delta) {
  const point = activatorEvent && activatorEvent.touches ? activatorEvent.touches[0] : activatorEvent;
  if (!point || typeof point.clientY !== "number") return null;
  return point.clientY + delta.y;
}

// First paint does not pay for the drag hooks: cards render as plain elements and their `useSortable`
// hooks mount the first time a pointer or a finger comes onto the board (pointerover precedes the press
// of a mouse or a finger), synchronously, so the very press that armed the board already drags. The
// keyboard path (the "Mover para…" menu) needs none of them. Figures: docs/benchmarks.md, "/kanban first
// paint".
const Armed = createContext(false);
const ARMING_EVENTS = ["pointerover", "pointerdown", "touchstart", "mousedown"];

export function KanbanDndBoard({ onMove, children, ...rest }) {
  const [armed, setArmed] = useState(false);
  const boardRef = useRef(null);
  useEffect(() => {
    const node = boardRef.current;
    if (armed || !node) return undefined;
    const arm = () => flushSync(() => setArmed(true));
    ARMING_EVENTS.forEach((name) => node.addEventListener(name, arm, { capture: true, passive: true }));
    return () => ARMING_EVENTS.forEach((name) => node.removeEventListener(name, arm, { capture: true }));
  }, [armed]);
  const sensors = useSensors(
    // 5 px before a drag starts, so a click on the card's link or buttons stays a click.
    useSensor(MouseSensor, { activationConstraint: { distance: 5 } }),
    // A 150 ms press before a drag starts, so a swipe still scrolls the board on a phone.
    useSensor(TouchSensor, { activationConstraint: { delay: 150, tolerance: 8 } }),
  );
  const onDragEnd = useCallback(
    ({ active, over, activatorEvent, delta }) => {
      lastDrop = Date.now();
      if (!over || !onMove) return;
      const target = dropTarget(active, over, pointerAt(activatorEvent, delta));
      if (target === null) return;
      onMove(String(active.data.current.cardId), target[0], target[1]);
    },
    [onMove],
  );
  return (
    <DndContext
      sensors={sensors}
      collisionDetection={cardsFirst}
      onDragEnd={onDragEnd}
      onDragCancel={() => {
        lastDrop = Date.now();
      }}
      accessibility={ACCESSIBILITY}
    >
      <Armed.Provider value={armed}>
        <div ref={boardRef} data-dnd-armed={armed ? "true" : undefined} {...rest}>
          {children}
        </div>
      </Armed.Provider>
      <DraggedCopy />
    </DndContext>
  );
}

// What follows the pointer during a drag is a still copy of the card in dnd-kit's overlay (fixed to the
// viewport, outside the board); the card itself stays in its column, shifted only by the sorting. The
// board scrolls sideways (overflow-x), so it is a scroll container in both axes: a card dragged by
// itself past the board's lower edge made it taller, dnd-kit's auto-scroll then scrolled it down under
// the pointer, and a drop on the lower part of a column's last card landed below the column and was
// ignored (dnd-kit's advice for draggables inside a scroll container is this overlay).
function DraggedCopy() {
  const { activeNode } = useDndContext();
  // No drop animation: nothing moves on a drop, the board re-renders from the server's answer.
  return <DragOverlay dropAnimation={null}>{activeNode ? <NodeCopy node={activeNode} /> : null}</DragOverlay>;
}

function NodeCopy({ node }) {
  const ref = useRef(null);
  useLayoutEffect(() => {
    const host = ref.current;
    if (!host) return undefined;
    const copy = node.cloneNode(true);
    // A picture of the card: its ids and data attributes stay with the card on the board.
    for (const el of [copy, ...copy.querySelectorAll("[id], [data-card]")]) {
      el.removeAttribute("id");
      el.removeAttribute("data-card");
    }
    copy.removeAttribute("data-dragging");
    Object.assign(copy.style, { transform: "", transition: "", opacity: "", zIndex: "", cursor: "grabbing" });
    copy.inert = true;
    host.replaceChildren(copy);
    return () => host.replaceChildren();
  }, [node]);
  return <div ref={ref} aria-hidden="true" />;
}

// While a card is dragged, the column a drop would go to (the pointer on the column or on one of its
// cards) is outlined and marked data-drop-over.
const TARGET_STYLE = { outline: "2px solid var(--accent-8)", outlineOffset: "-2px", borderRadius: "8px" };

export function KanbanDndColumn({ stageId, cardIds, children, ...rest }) {
  const stage = String(stageId);
  const { setNodeRef } = useDroppable({ id: COLUMN + stage, data: { stageId: stage } });
  const { over } = useDndContext();
  const isTarget = Boolean(over && String((over.data.current || {}).stageId) === stage);
  const items = useMemo(() => (cardIds || []).map((id) => CARD + id), [cardIds]);
  return (
    <SortableContext id={"cards:" + stage} items={items} strategy={verticalListSortingStrategy}>
      <div
        ref={setNodeRef}
        data-drop-over={isTarget ? "true" : undefined}
        style={isTarget ? TARGET_STYLE : undefined}
        {...rest}
      >
        {children}
      </div>
    </SortableContext>
  );
}

function swallowClickAfterDrop(event) {
  if (Date.now() - lastDrop < CLICK_AFTER_DROP_MS) {
    event.preventDefault();
    event.stopPropagation();
  }
}

// The card's sortable hook, mounted once the board is armed; it hands what the hook gives to its card.
// A separate component (rendered next to the card's children, not around them) so arming does not
// remount the card's content.
const SortableHook = React.memo(function SortableHook({ card, stageId, onChange }) {
  const { setNodeRef, listeners, transform, transition, isDragging } = useSortable({
    id: CARD + card,
    data: { cardId: card, stageId },
  });
  // By value: the sortable strategy returns a new transform object on every render.
  const translate = CSS.Translate.toString(transform);
  useLayoutEffect(() => {
    onChange({ setNodeRef, listeners, translate, transition, isDragging });
  }, [onChange, setNodeRef, listeners, translate, transition, isDragging]);
  useLayoutEffect(() => () => onChange(null), [onChange]);
  return null;
});

export function KanbanDndCard({ cardId, stageId, children, ...rest }) {
  const card = String(cardId);
  const armed = useContext(Armed);
  const [drag, setDrag] = useState(null);
  // The sortable `attributes` (role=button, tabIndex) are left out on purpose: the card holds a link
  // and buttons (a button may not contain them), and the keyboard path is the "Mover para…" menu.
  const style = {
    transform: drag ? drag.translate : undefined,
    transition: drag ? drag.transition : undefined,
    position: "relative",
    // Where the card is now while its copy is dragged.
    opacity: drag && drag.isDragging ? 0.4 : undefined,
    touchAction: "manipulation",
    cursor: "grab",
  };
  return (
    <div
      ref={drag ? drag.setNodeRef : undefined}
      style={style}
      data-dragging={drag && drag.isDragging ? "true" : undefined}
      onClickCapture={swallowClickAfterDrop}
      {...(drag ? drag.listeners : {})}
      {...rest}
    >
      {armed ? <SortableHook card={card} stageId={String(stageId)} onChange={setDrag} /> : null}
      {children}
    </div>
  );
}
