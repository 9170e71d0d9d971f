/**
 * Numbers that several modules must agree on, defined once.
 */

/**
 * The longest delay a Node.js timer honours (2³¹−1 ms, about 24.8 days); a longer one fires at
 * once. Every timeout setting is capped at this.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;
