# language: zh-CN
功能: 冲正(reversal)
  更正一条记录不改原记录,而是写一条与之相连的新记录;它用掉的上限和扣分基数还回去。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | M1   | H1   | 是   |
    并且 规则文件如下:
      """
      point_types:
        - {key: work, name: 零基积分, holder: person, step: 0.5, period: year}
      event_types:
        - {key: signin, name: 签到, subject: person}
        - {key: absent, name: 缺席, subject: person}
      categories:
        - {key: conduct, name: 日常表现, point_type: work, floor: {base: 3, window: year}}
      rules:
        - {id: S1, name: 主题党日签到, point_type: work, event: signin, points: {fixed: 5}, caps: [{window: month, max: 5}]}
        - {id: A1, name: 无故缺席, point_type: work, event: absent, category: conduct, points: {fixed: -2}}
      """

  场景: 冲正是一条相连的新记录,余额和得分还原,只能冲正一次
    假如 已录入以下事件:
      | 编号 | 类型   | 时间             | 村民 |
      | s1   | signin | 2026-03-01 09:00 | M1   |
    当 冲正事件 s1 按规则 S1 的记录,理由“签到记录有误”
    那么 事件 s1 按规则 S1 的记录已被冲正:一条 -5 分的新记录,说明“冲正第 {id} 条记录:签到记录有误”
    并且 事件 s1 按规则 S1 记 5 分
    并且 M1 的 work 余额为 0
    并且 M1 的 work 在 2026-03 的得分为 0
    并且 M1 共有 2 条 work 记录
    当 冲正事件 s1 按规则 S1 的记录,理由“再冲一次”
    那么 再次冲正被拒绝
    并且 M1 共有 2 条 work 记录

  场景: 冲正后上限还回去,同月再签到可以计分
    假如 已录入以下事件:
      | 编号 | 类型   | 时间             | 村民 |
      | s1   | signin | 2026-03-01 09:00 | M1   |
      | s2   | signin | 2026-03-08 09:00 | M1   |
    那么 事件 s2 的结果为“未计分”
    当 冲正事件 s1 按规则 S1 的记录,理由“代签”
    并且 录入以下事件:
      | 编号 | 类型   | 时间             | 村民 |
      | s3   | signin | 2026-03-15 09:00 | M1   |
    那么 事件 s3 按规则 S1 记 5 分
    并且 M1 的 work 余额为 5

  场景: 冲正扣分后扣分基数还回去
    假如 已录入以下事件:
      | 编号 | 类型   | 时间             | 村民 |
      | a1   | absent | 2026-03-01 09:00 | M1   |
      | a2   | absent | 2026-04-01 09:00 | M1   |
    那么 事件 a2 按规则 A1 记 -1 分
    当 冲正事件 a1 按规则 A1 的记录,理由“请过假”
    并且 录入以下事件:
      | 编号 | 类型   | 时间             | 村民 |
      | a3   | absent | 2026-05-01 09:00 | M1   |
    那么 事件 a3 按规则 A1 记 -2 分
    并且 M1 的 work 余额为 -3
